package Koha::Plugins::Base;

# The boundary with Koha, for the bridge's tests: what the bridge uses of Koha's
# Koha::Plugins::Base (plugin data in memory instead of the plugin_data table, a
# template that records its parameters, the bundle folder). Tests change behaviour
# further with Test::MockModule.

use strict;
use warnings;

our %DATA;    # class => { key => value }

sub new {
    my ( $class, $args ) = @_;
    return bless { %{ $args // {} } }, $class;
}

sub store_data {
    my ( $self, $data ) = @_;
    $DATA{ ref $self }{$_} = $data->{$_} for keys %$data;
    return 1;
}

sub retrieve_data {
    my ( $self, $key ) = @_;
    return $DATA{ ref $self }{$key};
}

sub mbf_dir {
    my ($self) = @_;
    ( my $file = ref($self) . '.pm' ) =~ s{::}{/}g;
    ( my $dir = $INC{$file} ) =~ s/\.pm\z//;
    return $dir;
}

sub get_template {
    my ( $self, $args ) = @_;
    return FakeTemplate->new( $args->{file} );
}

sub output_html {
    my ( $self, $html ) = @_;
    $self->{output} = $html;
    return;
}

package FakeTemplate;

sub new { my ( $class, $file ) = @_; return bless { file => $file, params => {} }, $class }
sub param { my ( $self, %p ) = @_; @{ $self->{params} }{ keys %p } = values %p; return }
sub output { my ($self) = @_; return $self->{params} }

1;
