# What each Koha hook turns into (the event and its payload), the settings' checks and
# the outbox, with the HTTP call replaced at the boundary (Test::MockModule); the same
# hooks against a real host are in 02-host.t.
use strict;
use warnings;
use Test::More;
use Test::MockModule;
use JSON::PP;

use FakeKoha;
use Koha::Plugin::Org::KohaShadcn::Bridge;

my $bridge = Koha::Plugin::Org::KohaShadcn::Bridge->new;
$bridge->store_data( { host_url => 'https://plugins.example.org/', hook_secret => 'x' x 32 } );

my @sent;
my $up = 1;
my $mock = Test::MockModule->new('Koha::Plugin::Org::KohaShadcn::Bridge');
$mock->redefine( _post => sub { my ( $self, $e, $p ) = @_; push @sent, [ $e, $p ] if $up; $up } );

sub last_sent { return $sent[-1] }

$bridge->after_biblio_action( { action => 'create', biblio_id => 42 } );
is_deeply last_sent(), [ 'biblio.after_save', { biblionumber => 42, action => 'create' } ],
  'a new record';
$bridge->after_biblio_action( { action => 'delete', biblio_id => 42 } );
is_deeply last_sent(), [ 'biblio.after_delete', { biblionumber => 42 } ], 'a deleted record';

my $item = FakeKoha::object( itemnumber => 7, biblionumber => 42, barcode => '3900001',
    homebranch => 'CPL' );
$bridge->after_item_action( { action => 'modify', item => $item, item_id => 7 } );
is_deeply last_sent(), [ 'item.after_save', { itemnumber => 7, biblionumber => 42,
    action => 'modify', barcode => '3900001', homebranch => 'CPL' } ], 'an item saved';

my $checkout = FakeKoha::object( issue_id => 11, itemnumber => 7, borrowernumber => 5,
    branchcode => 'CPL', date_due => '2026-12-24 23:59:00', returndate => '2026-12-20 10:00:00' );
$bridge->after_circ_action( { action => 'checkout', payload => { type => 'issue', checkout => $checkout } } );
is last_sent()->[0], 'circulation.after_checkout', 'a checkout';
is last_sent()->[1]{date_due}, '2026-12-24T23:59:00', 'dates go as ISO 8601';
ok !last_sent()->[1]{onsite}, 'not on site';
$bridge->after_circ_action( { action => 'checkin', payload => { checkout => $checkout } } );
is_deeply last_sent(), [ 'circulation.after_checkin', { itemnumber => 7, borrowernumber => 5,
    branchcode => 'CPL', returndate => '2026-12-20T10:00:00' } ], 'a checkin';
$bridge->after_circ_action( { action => 'renewal', payload => { checkout => $checkout } } );
is last_sent()->[0], 'circulation.after_renewal', 'a renewal';

my $hold = FakeKoha::object( reserve_id => 3, biblionumber => 42, borrowernumber => 5,
    branchcode => 'MPL', itemnumber => undef );
for ( [ place => 'hold.after_place' ], [ fill => 'hold.after_fill' ],
      [ waiting => 'hold.after_fill' ], [ cancel => 'hold.after_cancel' ] ) {
    $bridge->after_hold_action( { action => $_->[0], payload => { hold => $hold } } );
    is last_sent()->[0], $_->[1], "hold $_->[0]";
}
my $count = @sent;
$bridge->after_hold_action( { action => 'suspend', payload => { hold => $hold } } );
is scalar @sent, $count, 'hold actions the host has no event for are not sent';

my $patron = FakeKoha::object( borrowernumber => 5, categorycode => 'PT', branchcode => 'CPL' );
$bridge->after_patron_action( { action => 'create', patron => $patron, patron_id => 5 } );
is_deeply last_sent(), [ 'patron.after_save', { borrowernumber => 5, action => 'create',
    categorycode => 'PT', branchcode => 'CPL' } ], 'a new patron';
$bridge->after_patron_action( { action => 'delete', patron_id => 5 } );
is_deeply last_sent(), [ 'patron.after_delete', { borrowernumber => 5 } ], 'a deleted patron';

# the host is down: the event waits in the outbox and goes first with the next one
$up = 0;
ok !$bridge->after_biblio_action( { action => 'modify', biblio_id => 43 } ), 'not delivered';
is scalar @{ $bridge->outbox }, 1, 'kept in the outbox';
$up = 1;
@sent = ();
$bridge->after_biblio_action( { action => 'modify', biblio_id => 44 } );
is_deeply [ map { $_->[1]{biblionumber} } @sent ], [ 44, 43 ], 'the waiting one went too';
is scalar @{ $bridge->outbox }, 0, 'the outbox is empty';

$up = 0;
local $Koha::Plugin::Org::KohaShadcn::Bridge::OUTBOX_LIMIT = 3;
$bridge->after_biblio_action( { action => 'modify', biblio_id => $_ } ) for 1 .. 5;
is_deeply [ map { $_->{payload}{biblionumber} } @{ $bridge->outbox } ], [ 3, 4, 5 ],
  'a full outbox keeps the newest';
$bridge->store_data( { outbox => '' } );

# a hook never dies, whatever the host does: Koha's action goes on
$mock->redefine( ua => sub { die "no network\n" } );
$mock->unmock('_post');
my $lived = eval { $bridge->after_biblio_action( { action => 'modify', biblio_id => 9 } ); 1 };
ok $lived, 'a failing delivery does not die';
is scalar @{ $bridge->outbox }, 1, 'and it waits in the outbox';

# settings
my @bad = $bridge->check_settings( 'ftp://x', 'short' );
is scalar @bad, 2, 'two fields refused';
like $bad[0], qr/^host_url: /, 'names the URL field';
like $bad[1], qr/^hook_secret: at least 32/, 'names the secret field';
like( ( $bridge->check_settings( 'http://plugins.example.org', 'y' x 32 ) )[0], qr/use https/,
    'plain http only for a host on this machine' );
is_deeply [ $bridge->check_settings( 'http://127.0.0.1:8080', 'y' x 32 ) ], [], 'local http is fine';
is_deeply [ $bridge->check_settings( 'https://plugins.example.org/koha', 'y' x 32 ) ], [],
  'https with a path is fine';

# not configured: nothing is sent, nothing breaks
Koha::Plugins::Base::->can('store_data')->( $bridge, { host_url => '' } );
ok !$bridge->deliver( 'biblio.after_save', { biblionumber => 1 } ), 'unconfigured: not sent';

done_testing;
