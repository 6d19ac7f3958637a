package Koha::Plugin::Org::KohaShadcn::Bridge::Controller;

# Koha's REST API in front of the host's plugin routes:
#   /api/v1/contrib/shadcn/plugins/{plugin}/{route} -> HOST/plugins/{plugin}/api/{route}
# Koha authenticates the caller (staff, the permission openapi.json names) before this
# runs; the host answers as the plugin does.

use strict;
use warnings;
use Mojo::Base 'Mojolicious::Controller';

use Koha::Plugin::Org::KohaShadcn::Bridge;

sub proxy {
    my ($c) = @_;
    my $bridge = Koha::Plugin::Org::KohaShadcn::Bridge->new;
    my $req    = $c->req;
    my $body   = length( $req->body // '' ) ? $req->body : undef;
    my $res    = $bridge->forward( $req->method, $c->param('plugin') // '',
        $c->param('route') // '', $req->url->query->to_string, $body,
        $req->headers->content_type );
    my $type = ( $res->{headers} // {} )->{'content-type'} // 'application/json';
    $c->res->headers->content_type($type);
    return $c->render( status => $res->{status}, data => $res->{content} // '' );
}

1;
