"""Sign-in against the library's LDAP directory (ldap3): find the person's entry, bind as
them with their password over LDAPS or StartTLS (the certificate checked against
``ldap_ca_file`` or the system's CAs), then read their groups.

The user name goes into the search filter escaped as RFC 4515 says, so ``*``, ``(``,
``)``, ``\\`` and NUL match only themselves; an empty password is refused before any
bind (an LDAP bind with a DN and no password is an anonymous bind that "succeeds")."""

from __future__ import annotations

import ssl

from ldap3 import BASE, SUBTREE, Connection, Server, Tls
from ldap3.core.exceptions import LDAPException
from ldap3.utils.conv import escape_filter_chars

from ..errors import PluginHostError, Unauthorized
from .roles import account_name, group_names, roles_for
from .settings import IdentitySettings
from .store import Principal

MAX_USERNAME = 256


class LdapRefused(Unauthorized):
    pass


class LdapDirectory:
    def __init__(self, settings: IdentitySettings, known: tuple[str, ...],
                 base: tuple[str, ...]):
        self.settings, self.known, self.base = settings, known, base
        url = settings.ldap_url or ""
        self.secure = url.startswith("ldaps://")
        tls = Tls(validate=ssl.CERT_REQUIRED, version=ssl.PROTOCOL_TLS_CLIENT,
                  ca_certs_file=str(settings.ldap_ca_file) if settings.ldap_ca_file else None)
        self.server = Server(url, use_ssl=self.secure, tls=tls, connect_timeout=5)
        if not self.secure and not settings.ldap_start_tls:
            raise PluginHostError("ldap_start_tls: passwords would cross the network in "
                                  "clear; use ldaps:// or StartTLS", code="bad_setting")

    def _connect(self, user: str | None, password: str | None) -> Connection:
        conn = Connection(self.server, user=user, password=password, auto_bind=False,
                          raise_exceptions=False, receive_timeout=10, read_only=True)
        try:
            conn.open()
            if not self.secure and not conn.start_tls():
                raise PluginHostError(f"ldap_url: StartTLS failed: {conn.result}",
                                      code="identity_provider_unavailable", status=503)
        except LDAPException as e:
            raise PluginHostError(f"ldap_url: the directory cannot be reached securely: {e}",
                                  code="identity_provider_unavailable", status=503) from None
        return conn

    def _reader(self) -> Connection:
        s = self.settings
        conn = self._connect(s.ldap_bind_dn, s.ldap_bind_password)
        if not conn.bind():
            raise PluginHostError(f"ldap_bind_dn: the directory refused the reader: "
                                  f"{conn.result.get('description')}",
                                  code="identity_provider_unavailable", status=503)
        return conn

    def _find(self, conn: Connection, username: str) -> tuple[str, str]:
        s = self.settings
        query = s.ldap_user_filter.replace("{username}", escape_filter_chars(username))
        conn.search(s.ldap_user_search_base or "", query, SUBTREE, attributes=["uid"],
                    size_limit=2)
        entries = [e for e in conn.response or [] if e.get("type") == "searchResEntry"]
        if len(entries) != 1:
            raise LdapRefused("the user name or password is wrong")
        uid = entries[0]["attributes"].get("uid") or [username]
        return entries[0]["dn"], str(uid[0] if isinstance(uid, list) else uid)

    def _groups(self, conn: Connection, dn: str, username: str) -> list[str]:
        s = self.settings
        if not s.ldap_group_search_base:
            return []
        query = (s.ldap_group_filter.replace("{dn}", escape_filter_chars(dn))
                 .replace("{username}", escape_filter_chars(username)))
        conn.search(s.ldap_group_search_base, query, SUBTREE,
                    attributes=[s.ldap_group_attribute])
        names: list[str] = []
        for e in conn.response or []:
            if e.get("type") == "searchResEntry":
                value = e["attributes"].get(s.ldap_group_attribute)
                names += value if isinstance(value, list) else [value] if value else []
        return group_names([str(n) for n in names])

    def sign_in(self, username: str, password: str) -> Principal:
        if not username or len(username) > MAX_USERNAME or any(
                ord(c) < 32 for c in username):
            raise LdapRefused("username: give the user name the library's directory knows")
        if not password:
            raise LdapRefused("password: an empty password is not accepted")
        finder = self._reader() if self.settings.ldap_bind_dn else self._connect(None, None)
        try:
            dn, uid = self._find(finder, username)
        finally:
            finder.unbind()
        user = self._connect(dn, password)
        try:
            if not user.bind():
                raise LdapRefused("the user name or password is wrong")
            groups = self._groups(user, dn, uid)
        finally:
            user.unbind()
        return self._principal(dn, uid, groups)

    @property
    def can_refresh(self) -> bool:
        return bool(self.settings.ldap_bind_dn)

    def again(self, dn: str) -> Principal:
        """The entry and its groups read again by the reader account (at refresh)."""
        conn = self._reader()
        try:
            conn.search(dn, "(objectClass=*)", BASE, attributes=["uid"])
            entries = [e for e in conn.response or [] if e.get("type") == "searchResEntry"]
            if len(entries) != 1:
                raise LdapRefused("the directory entry of this session is gone")
            uid = entries[0]["attributes"].get("uid") or [dn]
            uid = str(uid[0] if isinstance(uid, list) else uid)
            return self._principal(dn, uid, self._groups(conn, dn, uid))
        finally:
            conn.unbind()

    def _principal(self, dn: str, uid: str, groups: list[str]) -> Principal:
        return Principal(account_name(uid), "ldap", dn,
                         roles_for(groups, self.settings, self.known, self.base),
                         tuple(groups), extra={"username": uid})
