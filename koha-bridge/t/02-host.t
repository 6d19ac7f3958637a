# Koha's hooks delivered to a real plugin host (tests/integrations/test_koha_bridge.py
# starts it and sets KOHA_BRIDGE_HOST and KOHA_BRIDGE_SECRET; it then checks what the
# host's plugin received). Signed as the host checks; a wrong secret is refused and the
# event waits in the outbox until the secret is right.
use strict;
use warnings;
use Test::More;
use Test::MockModule;

use FakeKoha;
use Koha::Plugin::Org::KohaShadcn::Bridge;

my ( $host, $secret ) = @ENV{qw(KOHA_BRIDGE_HOST KOHA_BRIDGE_SECRET)};
plan skip_all => 'KOHA_BRIDGE_HOST is not set (tests/integrations/test_koha_bridge.py sets it)'
  unless $host && $secret;

my $bridge = Koha::Plugin::Org::KohaShadcn::Bridge->new;
$bridge->store_data( { host_url => $host, hook_secret => $secret, outbox => '' } );

my $checkout = FakeKoha::object( issue_id => 11, itemnumber => 7, borrowernumber => 5,
    branchcode => 'CPL', date_due => '2026-12-24 23:59:00', returndate => '2026-12-20 10:00:00' );
my $hold = FakeKoha::object( reserve_id => 3, biblionumber => 42, borrowernumber => 5,
    branchcode => 'MPL', itemnumber => 7 );
my $item = FakeKoha::object( itemnumber => 7, biblionumber => 42, barcode => '3900001',
    homebranch => 'CPL' );
my $patron = FakeKoha::object( borrowernumber => 5, categorycode => 'PT', branchcode => 'CPL' );

ok $bridge->after_biblio_action( { action => 'create', biblio_id => 42 } ), 'biblio created';
ok $bridge->after_item_action( { action => 'create', item => $item, item_id => 7 } ), 'item';
ok $bridge->after_circ_action( { action => 'checkout', payload => { checkout => $checkout } } ),
  'checkout';
ok $bridge->after_circ_action( { action => 'checkin', payload => { checkout => $checkout } } ),
  'checkin';
ok $bridge->after_circ_action( { action => 'renewal', payload => { checkout => $checkout } } ),
  'renewal';
ok $bridge->after_hold_action( { action => 'place', payload => { hold => $hold } } ), 'hold';
ok $bridge->after_patron_action( { action => 'modify', patron => $patron, patron_id => 5 } ),
  'patron';
ok $bridge->cronjob_nightly, 'nightly';

# a wrong secret: the host answers 401, the event is kept
$bridge->store_data( { hook_secret => 'not-the-secret-' x 3 } );
my @warned;
{
    local $SIG{__WARN__} = sub { push @warned, @_ };
    ok !$bridge->after_biblio_action( { action => 'modify', biblio_id => 43 } ),
      'refused with a wrong secret';
}
like $warned[0], qr/biblio\.after_save not delivered: 401/, 'the log says the host refused it';
is scalar @{ $bridge->outbox }, 1, 'kept in the outbox';

# the right secret again: the next delivery takes the waiting one with it
$bridge->store_data( { hook_secret => $secret } );
ok $bridge->after_patron_action( { action => 'delete', patron_id => 6 } ), 'next delivery';
is scalar @{ $bridge->outbox }, 0, 'the waiting event went too';

# the host checks the path signed: a request replayed to another event is refused
my %headers = $bridge->sign( 'POST', '/hooks/biblio.after_save', '{"biblionumber":1}' );
my $res = HTTP::Tiny->new->request( 'POST', "$host/hooks/biblio.after_delete", {
    headers => { 'Content-Type' => 'application/json', %headers },
    content => '{"biblionumber":1}' } );
is $res->{status}, 401, 'a signature for one event does not deliver another';

done_testing;
