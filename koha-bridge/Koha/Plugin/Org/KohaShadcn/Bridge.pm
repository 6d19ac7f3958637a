package Koha::Plugin::Org::KohaShadcn::Bridge;

# The Koha bridge: connects a Koha to the Koha SHAD CN plugin host.
#
# - forwards Koha's plugin hooks (after_biblio_action, after_item_action,
#   after_circ_action, after_hold_action, after_patron_action) to the host's
#   POST /hooks/EVENT, each request signed with the shared hook secret
#   (X-Koha-Hook-Timestamp, X-Koha-Hook-Signature: v1=HMAC-SHA256);
#   deliveries that fail wait in an outbox and go with the next one;
# - adds the host's slot loader to the staff interface and the OPAC
#   (intranet_js, opac_js) with its SRI hash;
# - serves the host's plugin routes under Koha's REST API
#   (/api/v1/contrib/shadcn/plugins/NAME/PATH, staff only);
# - has a configure page: the host URL and the hook secret.
#
# docs/integrations/koha-bridge.md is the guide.

use strict;
use warnings;
use base qw(Koha::Plugins::Base);

use Digest::SHA qw(hmac_sha256_hex);
use HTTP::Tiny;
use JSON::PP;

our $VERSION = '1.0.0';

our $metadata = {
    name            => 'Koha SHAD CN bridge',
    author          => 'Koha SHAD CN Ecosystem developers',
    date_authored   => '2026-12-03',
    date_updated    => '2026-12-03',
    minimum_version => '22.11.00.000',
    maximum_version => undef,
    version         => $VERSION,
    description     => 'Sends Koha events to the Koha SHAD CN plugin host, loads its '
      . 'UI components in Koha\'s pages and serves its plugin routes.',
};

our $TIMEOUT        = 3;       # seconds: a hook runs inside a librarian's request
our $OUTBOX_LIMIT   = 1000;    # deliveries kept while the host is unreachable
our $LOADER_MAX_AGE = 300;     # seconds the loader's SRI hash is reused
our $JSON           = JSON::PP->new->canonical->utf8;

sub new {
    my ( $class, $args ) = @_;
    $args->{metadata} = $metadata;
    $args->{metadata}->{class} = $class;
    return $class->SUPER::new($args);
}

# ---------------------------------------------------------------- settings

sub host_url {
    my ($self) = @_;
    my $url = $self->retrieve_data('host_url') // '';
    $url =~ s{/+\z}{};
    return $url;
}

sub hook_secret { return $_[0]->retrieve_data('hook_secret') // '' }

sub ua { return HTTP::Tiny->new( timeout => $TIMEOUT, verify_SSL => 1,
        agent => "koha-shadcn-bridge/$VERSION" ) }

# Checks the settings a librarian typed; returns a list of "field: reason" strings.
sub check_settings {
    my ( $self, $url, $secret ) = @_;
    my @errors;
    if ( !defined $url || $url !~ m{\Ahttps?://[A-Za-z0-9.\-\[\]:]+(?::[0-9]+)?(?:/[^\s?#]*)?\z} ) {
        push @errors, 'host_url: an http(s) URL without query, e.g. https://plugins.library.org';
    }
    elsif ( $url =~ m{\Ahttp://} && $url !~ m{\Ahttp://(?:127\.0\.0\.1|localhost|\[::1\])[:/]} ) {
        push @errors, 'host_url: use https (http only for a host on this machine)';
    }
    if ( !defined $secret || length($secret) < 32 ) {
        push @errors, 'hook_secret: at least 32 characters (the host\'s hook_secret)';
    }
    return @errors;
}

# ---------------------------------------------------------------- signing

# The signature the host checks: v1=HMAC-SHA256(secret, "TS.METHOD.PATH." . body).
sub sign {
    my ( $self, $method, $path, $body, $ts ) = @_;
    $ts //= time;
    my $sig = 'v1=' . hmac_sha256_hex( "$ts.$method.$path." . $body, $self->hook_secret );
    return ( 'X-Koha-Hook-Timestamp' => $ts, 'X-Koha-Hook-Signature' => $sig );
}

sub _path_of {
    my ( $self, $suffix ) = @_;
    my ($prefix) = $self->host_url =~ m{\Ahttps?://[^/]+(/.*)?\z};
    return ( $prefix // '' ) . $suffix;
}

# ---------------------------------------------------------------- delivery

# Posts one event; returns 1 when the host took it. Never dies: Koha's action goes on.
sub deliver {
    my ( $self, $event, $payload ) = @_;
    return 0 unless $self->host_url && $self->hook_secret;
    my $ok = $self->_post( $event, $payload );
    if ($ok) {
        $self->flush_outbox;
    }
    else {
        $self->_queue( $event, $payload );
    }
    return $ok;
}

sub _post {
    my ( $self, $event, $payload ) = @_;
    my $body = $JSON->encode($payload);
    my $path = $self->_path_of("/hooks/$event");
    my $res  = eval {
        $self->ua->request( 'POST', $self->host_url . "/hooks/$event", {
            headers => { 'Content-Type' => 'application/json',
                         $self->sign( 'POST', $path, $body ) },
            content => $body } );
    };
    if ( !$res || !$res->{success} ) {
        my $why = $res ? "$res->{status} $res->{reason}" : $@;
        warn "koha-shadcn-bridge: $event not delivered: $why\n";
        # the host said the event itself is wrong (422) or unknown (404): keeping it
        # would only fail again
        return ( $res && ( $res->{status} == 404 || $res->{status} == 422 ) ) ? 1 : 0;
    }
    return 1;
}

sub outbox {
    my ($self) = @_;
    my $raw = $self->retrieve_data('outbox');
    my $list = $raw ? eval { $JSON->decode($raw) } : [];
    return ref $list eq 'ARRAY' ? $list : [];
}

sub _queue {
    my ( $self, $event, $payload ) = @_;
    my $list = $self->outbox;
    push @$list, { event => $event, payload => $payload, queued_at => time };
    splice @$list, 0, @$list - $OUTBOX_LIMIT if @$list > $OUTBOX_LIMIT;
    $self->store_data( { outbox => $JSON->encode($list) } );
}

# Sends what waits in the outbox, oldest first; stops at the first failure.
sub flush_outbox {
    my ($self) = @_;
    my $list = $self->outbox;
    return 0 unless @$list;
    my $sent = 0;
    while ( my $next = $list->[0] ) {
        last unless $self->_post( $next->{event}, $next->{payload} );
        shift @$list;
        $sent++;
    }
    $self->store_data( { outbox => $JSON->encode($list) } );
    return $sent;
}

# ---------------------------------------------------------------- Koha's hooks

sub _date {    # Koha's "YYYY-MM-DD HH:MM:SS" as ISO 8601
    my ($value) = @_;
    return undef unless defined $value;
    $value = "$value";
    $value =~ s/ /T/;
    return $value;
}

sub _int { my ($v) = @_; return defined $v && length $v ? 0 + $v : undef }

sub after_biblio_action {
    my ( $self, $params ) = @_;
    my $action = $params->{action} // '';
    my $id = $params->{biblio_id} // ( $params->{biblio} && $params->{biblio}->biblionumber );
    return unless $id;
    return $self->deliver( 'biblio.after_delete', { biblionumber => _int($id) } )
      if $action eq 'delete';
    return $self->deliver( 'biblio.after_save',
        { biblionumber => _int($id), action => $action eq 'create' ? 'create' : 'modify' } );
}

sub after_item_action {
    my ( $self, $params ) = @_;
    my $action = $params->{action} // '';
    my $item   = $params->{item};
    my $id     = $params->{item_id} // ( $item && $item->itemnumber );
    return unless $id && $item;
    my %ids = ( itemnumber => _int($id), biblionumber => _int( $item->biblionumber ) );
    return $self->deliver( 'item.after_delete', \%ids ) if $action eq 'delete';
    return $self->deliver( 'item.after_save', {
        %ids, action => $action eq 'create' ? 'create' : 'modify',
        barcode => $item->barcode, homebranch => $item->homebranch } );
}

sub after_circ_action {
    my ( $self, $params ) = @_;
    my $action   = $params->{action} // '';
    my $checkout = ( $params->{payload} // {} )->{checkout};
    return unless $checkout;
    if ( $action eq 'checkout' ) {
        return $self->deliver( 'circulation.after_checkout', {
            issue_id => _int( $checkout->issue_id ), itemnumber => _int( $checkout->itemnumber ),
            borrowernumber => _int( $checkout->borrowernumber ),
            branchcode => $checkout->branchcode, date_due => _date( $checkout->date_due ),
            onsite => ( ( $params->{payload}{type} // '' ) eq 'onsite_checkout' ? JSON::PP::true : JSON::PP::false ) } );
    }
    if ( $action eq 'checkin' ) {
        return $self->deliver( 'circulation.after_checkin', {
            itemnumber => _int( $checkout->itemnumber ),
            borrowernumber => _int( $checkout->borrowernumber ),
            branchcode => $checkout->branchcode,
            returndate => _date( $checkout->returndate ) } );
    }
    if ( $action eq 'renewal' ) {
        return $self->deliver( 'circulation.after_renewal', {
            issue_id => _int( $checkout->issue_id ), itemnumber => _int( $checkout->itemnumber ),
            borrowernumber => _int( $checkout->borrowernumber ),
            date_due => _date( $checkout->date_due ) } );
    }
    return;
}

my %HOLD_EVENTS = ( place => 'hold.after_place', fill => 'hold.after_fill',
    waiting => 'hold.after_fill', cancel => 'hold.after_cancel' );

sub after_hold_action {
    my ( $self, $params ) = @_;
    my $event = $HOLD_EVENTS{ $params->{action} // '' } or return;
    my $hold = ( $params->{payload} // {} )->{hold} or return;
    return $self->deliver( $event, {
        reserve_id => _int( $hold->reserve_id ), biblionumber => _int( $hold->biblionumber ),
        borrowernumber => _int( $hold->borrowernumber ), branchcode => $hold->branchcode,
        itemnumber => _int( $hold->itemnumber ), action => $params->{action} } );
}

sub after_patron_action {
    my ( $self, $params ) = @_;
    my $action = $params->{action} // '';
    my $patron = $params->{patron};
    my $id = $params->{patron_id} // ( $patron && $patron->borrowernumber );
    return unless $id;
    return $self->deliver( 'patron.after_delete', { borrowernumber => _int($id) } )
      if $action eq 'delete';
    return $self->deliver( 'patron.after_save', {
        borrowernumber => _int($id), action => $action eq 'create' ? 'create' : 'modify',
        categorycode => $patron ? $patron->categorycode : undef,
        branchcode   => $patron ? $patron->branchcode   : undef } );
}

sub cronjob_nightly {
    my ($self) = @_;
    $self->flush_outbox;
    my @t = gmtime;
    return $self->deliver( 'cronjob.nightly',
        { day => sprintf( '%04d-%02d-%02d', $t[5] + 1900, $t[4] + 1, $t[3] ) } );
}

# ---------------------------------------------------------------- UI slot loader

# The host's loader URL and SRI hash, asked again every $LOADER_MAX_AGE seconds.
sub loader {
    my ($self) = @_;
    return undef unless $self->host_url;
    my $cached = $self->retrieve_data('loader');
    my $loader = $cached ? eval { $JSON->decode($cached) } : undef;
    return $loader if $loader && $loader->{host} eq $self->host_url
      && time - $loader->{fetched_at} < $LOADER_MAX_AGE;
    my $res = eval { $self->ua->get( $self->host_url . '/ui/loader' ) };
    if ( $res && $res->{success} ) {
        my $info = eval { $JSON->decode( $res->{content} ) };
        if ( $info && ( $info->{integrity} // '' ) =~ m{\Asha(256|384|512)-[A-Za-z0-9+/=]+\z}
            && ( $info->{url} // '' ) =~ m{\A/[A-Za-z0-9._/\-]+\z} ) {
            $loader = { url => $info->{url}, integrity => $info->{integrity},
                        host => $self->host_url, fetched_at => time };
            $self->store_data( { loader => $JSON->encode($loader) } );
            return $loader;
        }
    }
    return $loader if $loader && $loader->{host} eq $self->host_url;    # stale beats none
    return undef;
}

sub _escape_attr {
    my ($v) = @_;
    $v =~ s/&/&amp;/g; $v =~ s/"/&quot;/g; $v =~ s/</&lt;/g; $v =~ s/>/&gt;/g;
    return $v;
}

sub _loader_tag {
    my ( $self, $interface ) = @_;
    my $loader = $self->loader or return '';
    my $src = _escape_attr( $self->host_url . $loader->{url} );
    my $sri = _escape_attr( $loader->{integrity} );
    return qq{<script type="module" src="$src" integrity="$sri" crossorigin="anonymous" }
      . qq{data-koha-interface="$interface"></script>};
}

sub intranet_js { return $_[0]->_loader_tag('staff') }
sub opac_js     { return $_[0]->_loader_tag('opac') }

# ---------------------------------------------------------------- REST API routes

sub api_namespace { return 'shadcn' }

sub api_routes {
    my ($self) = @_;
    my $file = $self->mbf_dir . '/openapi.json';
    open my $fh, '<:raw', $file or die "koha-shadcn-bridge: $file: $!";
    local $/;
    my $spec = $JSON->decode(<$fh>);
    close $fh;
    return $spec;
}

# Forwards one call to the host's plugin route; returns {status, headers, content}.
sub forward {
    my ( $self, $method, $plugin, $path, $query, $body, $content_type ) = @_;
    return { status => 503, content => $JSON->encode(
        { error => 'the Koha SHAD CN bridge is not configured (host_url)' } ) }
      unless $self->host_url;
    return { status => 400, content => $JSON->encode( { error => 'plugin: not a plugin name' } ) }
      unless $plugin =~ m{\A[a-z][a-z0-9-]{0,63}\z};
    return { status => 400, content => $JSON->encode( { error => 'path: not a plugin route' } ) }
      if $path =~ m{(?:\A|/)\.\.?(?:/|\z)|[\x00-\x20\\#?%]};
    my $url = $self->host_url . "/plugins/$plugin/api/$path" . ( length( $query // '' ) ? "?$query" : '' );
    my $res = eval {
        $self->ua->request( $method, $url, {
            headers => { 'Accept' => 'application/json',
                         ( defined $body ? ( 'Content-Type' => $content_type // 'application/json' ) : () ) },
            ( defined $body ? ( content => $body ) : () ) } );
    };
    return { status => 502, content => $JSON->encode( { error => "the plugin host did not answer: $@" } ) }
      unless $res;
    return { status => 502, content => $JSON->encode( { error => "the plugin host did not answer: $res->{content}" } ) }
      if $res->{status} == 599;
    return { status => $res->{status}, headers => $res->{headers}, content => $res->{content} };
}

# ---------------------------------------------------------------- configure page

sub configure {
    my ( $self, $args ) = @_;
    my $cgi      = $self->{cgi};
    my $template = $self->get_template( { file => 'configure.tt' } );
    my %shown = ( host_url => $self->host_url, secret_set => $self->hook_secret ? 1 : 0,
                  outbox => scalar @{ $self->outbox } );
    if ( $cgi->param('save') ) {
        my $url    = $cgi->param('host_url') // '';
        my $secret = $cgi->param('hook_secret');
        $url =~ s{/+\z}{};
        $secret = $self->hook_secret if !length( $secret // '' ) && $self->hook_secret;
        my @errors = $self->check_settings( $url, $secret );
        if (@errors) {
            $template->param( %shown, host_url => $url, errors => \@errors );
        }
        else {
            $self->store_data( { host_url => $url, hook_secret => $secret, loader => '' } );
            $template->param( %shown, host_url => $url, secret_set => 1, saved => 1,
                              test => $self->test_connection );
        }
    }
    else {
        $template->param(%shown);
    }
    $self->output_html( $template->output );
}

# Tries the host: its health, the loader, and one signed delivery the host must accept.
sub test_connection {
    my ($self) = @_;
    my $res = eval { $self->ua->get( $self->host_url . '/healthz' ) };
    return { ok => 0, message => 'the host did not answer at ' . $self->host_url . '/healthz' }
      unless $res && $res->{success};
    my $signed = eval {
        $self->ua->request( 'POST', $self->host_url . '/hooks/cronjob.nightly-check', {
            headers => { 'Content-Type' => 'application/json',
                         $self->sign( 'POST', $self->_path_of('/hooks/cronjob.nightly-check'), '{}' ) },
            content => '{}' } );
    };
    # an unknown event (404) means the host took the signature; 401 means the secret is wrong
    return { ok => 0, message => 'the host refused the hook secret (401): copy its hook_secret' }
      if $signed && $signed->{status} == 401;
    return { ok => 1, message => 'connected: the host answers and accepts signed events' };
}

1;
