"""Who is calling: sign-in through the library's OpenID Connect provider, SAML 2.0
identity provider or LDAP directory; roles from its groups; the service's own short-lived
sessions with revocable refresh; and the audit trail of every privileged act.

Both services use it: the registry maps a person to an account with registry roles
(admin, reviewer, publisher, user), the host to the ``host-admin`` role of its admin API.

- ``settings``  the provider settings both services share (``IdentitySettings``)
- ``oidc``      discovery, JWKS with rotation, token checks, the code + PKCE web flow
- ``ldap``      bind as the user over LDAPS or StartTLS, group look-up
- ``saml``      the SAML service provider (pysaml2): metadata, signed assertions only
- ``roles``     groups, claims and machine clients to roles
- ``store``     tables, one-time values (state, nonce, SAML ids), sessions
- ``audit``     the audit log: database, JSON lines, metrics
- ``service``   the sign-in flows composed for one service; ``routes`` their HTTP API
"""
