package FakeKoha;

# Koha's objects as the hooks receive them (Koha::Biblio, Koha::Item, Koha::Checkout,
# Koha::Hold, Koha::Patron): accessors only, which is all the bridge calls; and a CGI.

use strict;
use warnings;

sub object { my (%fields) = @_; return bless {%fields}, 'FakeKoha::Object' }

package FakeKoha::Object;

our $AUTOLOAD;

sub AUTOLOAD {
    my ($self) = @_;
    ( my $name = $AUTOLOAD ) =~ s/.*:://;
    return if $name eq 'DESTROY';
    die "FakeKoha: the bridge called $name, which this object does not have\n"
      unless exists $self->{$name};
    return $self->{$name};
}

package FakeKoha::CGI;

sub new { my ( $class, %p ) = @_; return bless {%p}, $class }
sub param { my ( $self, $name ) = @_; return $self->{$name} }

1;
