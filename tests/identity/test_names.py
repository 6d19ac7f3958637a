"""How a person from an identity provider is named here, and how their groups are read:
whatever a provider sends (a display name with spaces, a number, a DN, one string of
groups or a list), the account name is a valid one and the groups are names a role can
be mapped to."""

from __future__ import annotations

import re

import pytest

from plugin_host.identity.roles import account_name, group_names


@pytest.mark.parametrize(("raw", "name"), [
    ("ada", "ada"),
    ("Ada Lovelace", "ada-lovelace"),
    ("  Grace.Hopper@Example.ORG ", "grace.hopper-example.org"),
    ("42", "u-42"),
    ("-x-", "x-user"),
    ("李雷", "u-"),  # nothing usable left: a valid stand-in (taken names get a suffix)
    ("a" * 200, "a" * 63),
])
def test_account_names_are_always_valid(raw, name):
    assert account_name(raw) == name
    assert re.fullmatch(r"[a-z][a-z0-9_.-]{1,63}", name)  # what the accounts API takes


@pytest.mark.parametrize(("value", "groups"), [
    (None, []),
    ("koha-admins", ["koha-admins"]),
    ("koha-admins, koha-staff", ["koha-admins", "koha-staff"]),
    (["koha-admins", "", 7, " koha-staff "], ["koha-admins", "koha-staff"]),
    ("cn=koha-admins,ou=groups,dc=library,dc=test",
     ["cn=koha-admins,ou=groups,dc=library,dc=test", "koha-admins"]),
    (["uid=ada,ou=people", "uid=ada,ou=people"], ["uid=ada,ou=people", "ada"]),
])
def test_groups_are_read_whatever_shape_they_come_in(value, groups):
    assert group_names(value) == groups
