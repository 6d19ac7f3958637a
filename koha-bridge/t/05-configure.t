# The configure page: wrong settings are refused field by field and nothing is saved;
# right ones are saved and tried against a real host (KOHA_BRIDGE_HOST), which must
# accept a signed delivery; a secret the host does not share is reported.
use strict;
use warnings;
use Test::More;

use FakeKoha;
use Koha::Plugin::Org::KohaShadcn::Bridge;

my ( $host, $secret ) = @ENV{qw(KOHA_BRIDGE_HOST KOHA_BRIDGE_SECRET)};
plan skip_all => 'KOHA_BRIDGE_HOST is not set (tests/integrations/test_koha_bridge.py sets it)'
  unless $host && $secret;

sub page {
    my (%form) = @_;
    my $bridge = Koha::Plugin::Org::KohaShadcn::Bridge->new( { cgi => FakeKoha::CGI->new(%form) } );
    $bridge->configure;
    return ( $bridge, $bridge->{output} );
}

$Koha::Plugins::Base::DATA{'Koha::Plugin::Org::KohaShadcn::Bridge'} = {};
my ( $bridge, $shown ) = page();
is $shown->{host_url}, '', 'empty at first';
ok !$shown->{secret_set}, 'no secret yet';

( $bridge, $shown ) = page( save => 1, host_url => 'javascript:alert(1)', hook_secret => 'short' );
is scalar @{ $shown->{errors} }, 2, 'both fields refused';
is $bridge->retrieve_data('host_url'), undef, 'nothing saved';

( $bridge, $shown ) = page( save => 1, host_url => "$host/", hook_secret => $secret );
ok $shown->{saved}, 'saved';
is $bridge->retrieve_data('host_url'), $host, 'the URL without its trailing slash';
ok $shown->{test}{ok}, 'the host answers and takes signed events' or diag explain $shown->{test};

( $bridge, $shown ) = page( save => 1, host_url => $host, hook_secret => '' );
ok $shown->{saved} && $bridge->retrieve_data('hook_secret') eq $secret,
  'an empty secret field keeps the secret';
ok $shown->{secret_set}, 'the page says a secret is set, never what it is';
ok !grep( { defined && $_ eq $secret } values %$shown ), 'the secret is not shown';

( $bridge, $shown ) = page( save => 1, host_url => $host, hook_secret => 'w' x 40 );
ok !$shown->{test}{ok}, 'a secret the host does not share';
like $shown->{test}{message}, qr/refused the hook secret/, 'is reported';

( $bridge, $shown ) = page( save => 1, host_url => 'http://127.0.0.1:9', hook_secret => $secret );
like $shown->{test}{message}, qr/did not answer/, 'a host that is not there is reported';

done_testing;
