# intranet_js and opac_js add the host's slot loader with the SRI hash of the bytes the
# host serves (a real host: KOHA_BRIDGE_HOST); the hash is asked again every 5 minutes,
# a stale one is used when the host is away, and without one the page gets nothing.
use strict;
use warnings;
use Test::More;
use Test::MockModule;
use Digest::SHA qw(sha384_base64);
use HTTP::Tiny;

use Koha::Plugin::Org::KohaShadcn::Bridge;

my $host = $ENV{KOHA_BRIDGE_HOST};
plan skip_all => 'KOHA_BRIDGE_HOST is not set (tests/integrations/test_koha_bridge.py sets it)'
  unless $host;

my $bridge = Koha::Plugin::Org::KohaShadcn::Bridge->new;
$bridge->store_data( { host_url => $host, hook_secret => 'z' x 32, loader => '' } );

my $bytes = HTTP::Tiny->new->get("$host/ui/loader.js")->{content};
my $sri = sha384_base64($bytes);
$sri .= '=' while length($sri) % 4;

my $tag = $bridge->intranet_js;
like $tag, qr{^<script type="module" src="\Q$host\E/ui/loader\.js"}, 'the loader from the host';
like $tag, qr{integrity="sha384-\Q$sri\E"}, 'with the hash of the bytes the host serves';
like $tag, qr{crossorigin="anonymous" data-koha-interface="staff"}, 'staff side';
like $bridge->opac_js, qr{data-koha-interface="opac"}, 'OPAC side';

my $gets = 0;
my $mock = Test::MockModule->new('HTTP::Tiny');
$mock->redefine( get => sub { $gets++; return { success => 0, status => 599, reason => 'down',
    content => 'down' } } );
is $bridge->intranet_js, $tag, 'the hash is reused';
is $gets, 0, 'without asking the host again';

my $cached = JSON::PP->new->decode( $bridge->retrieve_data('loader') );
$cached->{fetched_at} -= 301;
$bridge->store_data( { loader => JSON::PP->new->encode($cached) } );
is $bridge->intranet_js, $tag, 'five minutes on and the host away: the last hash is used';
is $gets, 1, 'after asking once';

$bridge->store_data( { loader => '' } );
is $bridge->intranet_js, '', 'no hash and no host: no tag (the page works without plugins)';

$bridge->store_data( { host_url => '' } );
is $bridge->intranet_js, '', 'not configured: no tag';

done_testing;
