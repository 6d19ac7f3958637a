# Koha's REST API in front of the host's plugin routes: api_routes gives Koha the
# OpenAPI paths (staff only), and the controller forwards to a real host
# (KOHA_BRIDGE_HOST), refusing names and paths that are not a plugin's route.
use strict;
use warnings;
use Test::More;
use Test::Mojo;
use Mojolicious::Lite;

use Koha::Plugin::Org::KohaShadcn::Bridge;
use Koha::Plugin::Org::KohaShadcn::Bridge::Controller;

my $host = $ENV{KOHA_BRIDGE_HOST};
plan skip_all => 'KOHA_BRIDGE_HOST is not set (tests/integrations/test_koha_bridge.py sets it)'
  unless $host;

my $bridge = Koha::Plugin::Org::KohaShadcn::Bridge->new;
$bridge->store_data( { host_url => $host, hook_secret => 'z' x 32 } );

my $spec = $bridge->api_routes;
my $op = $spec->{'/plugins/{plugin}/{route}'}{get};
is $op->{'x-mojo-to'}, 'Org::KohaShadcn::Bridge::Controller#proxy', 'routed to the controller';
is_deeply $op->{'x-koha-authorization'}, { permissions => { catalogue => '1' } }, 'staff only';
is $bridge->api_namespace, 'shadcn', 'under /api/v1/contrib/shadcn';

# the route Koha makes of the spec (Koha checks the caller's permission before it)
any '/api/v1/contrib/shadcn/plugins/:plugin/*route' => sub {
    Koha::Plugin::Org::KohaShadcn::Bridge::Controller::proxy(@_);
};
my $t = Test::Mojo->new;
my $base = '/api/v1/contrib/shadcn/plugins';

$t->get_ok("$base/hook-recorder/echo/hello?x=1")->status_is(200)
  ->json_is( '/what' => 'hello' )->json_is( '/query/x' => '1' );
$t->post_ok( "$base/hook-recorder/echo/made" => json => { title => 'Dune' } )->status_is(201)
  ->json_is( '/body/title' => 'Dune' );
$t->get_ok("$base/no-such-plugin/x")->status_is(404);
$t->get_ok("$base/Bad_Name/x")->status_is(400)->json_like( '/error' => qr/^plugin:/ );
$t->get_ok("$base/hook-recorder/echo/..%2f..%2fadmin")->status_is(400)
  ->json_like( '/error' => qr/^path:/ );
is $bridge->forward( 'GET', 'hook-recorder', '../../admin/plugins', '' )->{status}, 400,
  'no way out of the plugin';

$bridge->store_data( { host_url => 'http://127.0.0.1:9' } );
$t->get_ok("$base/hook-recorder/echo/x")->status_is(502)->json_like( '/error' => qr/did not answer/ );
$bridge->store_data( { host_url => '' } );
$t->get_ok("$base/hook-recorder/echo/x")->status_is(503)->json_like( '/error' => qr/not configured/ );

done_testing;
