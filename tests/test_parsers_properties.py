"""Any input to a parser gives a value or the documented error, never anything else:
plugin.toml, package archives, signatures, versions and ranges, request JSON."""

from __future__ import annotations

import contextlib
import io
import zipfile

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from plugin_host.errors import ManifestError, PackageError, PluginHostError, SignatureError
from plugin_host.manifest import parse_manifest
from plugin_host.package.archive import read_package
from plugin_host.package.signing import verify_signature
from plugin_host.service.http import parse_json
from plugin_host.versions import parse_range, parse_version, satisfies

SETTINGS = settings(max_examples=300, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(st.one_of(st.text(), st.binary()))
def test_manifest_any_text(data):
    try:
        parse_manifest(data)
    except ManifestError as e:
        assert e.problems and all(isinstance(p, str) for p in e.problems)


toml_values = st.recursive(st.one_of(st.integers(), st.text(max_size=8), st.booleans()),
                           lambda kids: st.lists(kids, max_size=3), max_leaves=20)


@SETTINGS
@given(st.dictionaries(st.sampled_from(["plugin", "backend", "permissions", "resources",
                                        "ui", "dependencies", "x"]),
                       st.dictionaries(st.text(min_size=1, max_size=10), toml_values,
                                       max_size=4), max_size=5))
def test_manifest_any_structure(doc):
    import json

    text = "\n".join(f"[{json.dumps(table)}]\n" + "\n".join(
        f"{json.dumps(k)} = {json.dumps(v)}" for k, v in body.items())
        for table, body in doc.items())
    with contextlib.suppress(ManifestError):
        parse_manifest(text)


def test_manifest_nested_too_deeply():
    with pytest.raises(ManifestError, match="nested too deeply"):
        parse_manifest("a = " + "[" * 100000 + "]" * 100000)


@SETTINGS
@given(st.binary(max_size=4096))
def test_package_any_bytes(data):
    with contextlib.suppress(PackageError):
        read_package(data)


@pytest.fixture(scope="module")
def good(packages):
    return packages["hello-world"]


@SETTINGS
@given(data=st.data())
def test_package_mutated(good, data):
    raw = bytearray(good)
    for _ in range(data.draw(st.integers(1, 8))):
        i = data.draw(st.integers(0, len(raw) - 1))
        raw[i] = data.draw(st.integers(0, 255))
    with contextlib.suppress(PackageError):
        read_package(bytes(raw))


@SETTINGS
@given(sig=st.one_of(st.binary(max_size=300), st.builds(
    lambda k, s, a: (
        f'{{"keyid": {k}, "signature": {s}, "algorithm": {a}}}').encode(),
    st.sampled_from(['"abc"', "1", "[1]", "null", "{}"]),
    st.sampled_from(['"AA=="', '"!!"', "2", "null"]),
    st.sampled_from(['"ed25519"', '"rsa"', "null"]))))
def test_signature_any_document(good, keys, sig):
    from plugin_host.package.signing import load_trusted_keys

    pkg = read_package(good)
    pkg.signature = sig
    with contextlib.suppress(SignatureError):
        verify_signature(pkg, load_trusted_keys([keys["pub"]]))


@SETTINGS
@given(st.text(max_size=30))
def test_ranges_and_versions_any_text(text):
    for parse in (parse_range, parse_version):
        with contextlib.suppress(ValueError):
            parse(text)
    with contextlib.suppress(ValueError):
        satisfies("1.0.0", text)


@SETTINGS
@given(st.binary(max_size=2000))
def test_request_json_any_bytes(data):
    try:
        parse_json(data)
    except PluginHostError as e:
        assert e.status == 422


def test_the_properties_see_real_zip_structure(good):
    """The mutation test starts from a valid package (so it explores near-valid input)."""
    with zipfile.ZipFile(io.BytesIO(good)) as z:
        assert "plugin.toml" in z.namelist()
