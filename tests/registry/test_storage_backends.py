"""The registry's three storage backends keep the same contract against real stores (a
folder, moto's S3 server, the GCS emulator): an object written is read back whole, a
missing one reads as None, a listing gives each key under a folder with when it was
written, a delete is quiet if the object is gone, keys that climb out are refused; and
an S3 store that does not answer is a 503 naming the operation, the key and the store,
and a key that climbs out is the caller's error (not a 503) on every backend."""

from __future__ import annotations

import socket
from types import SimpleNamespace

import pytest

from plugin_host.errors import PluginHostError
from plugin_host.registry.storage import (
    GCSStorage,
    LocalStorage,
    S3Storage,
    StorageError,
    open_storage,
)

from ..support.servers import BUCKET, S3_ENV


@pytest.fixture(params=["local", "s3", "gcs"])
def store(request, tmp_path, monkeypatch):
    if request.param == "local":
        return LocalStorage(tmp_path / "store")
    for key, value in S3_ENV.items():
        monkeypatch.setenv(key, value)
    if request.param == "s3":
        served = request.getfixturevalue("s3_server")
        return S3Storage(BUCKET, "reg/", served.url, "us-east-1")
    served = request.getfixturevalue("gcs_server")
    return GCSStorage(BUCKET, "reg", served.url)


def test_the_contract_holds_on_every_backend(store):
    store.check()
    store.put("metadata/root.json", b'{"signed": 1}', "application/json")
    store.put("targets/a/p-1.0.0.kplugin", b"\x00zip")
    store.put("targets/b/p-2.0.0.kplugin", b"zip2")
    assert store.get("metadata/root.json") == b'{"signed": 1}'
    assert store.get("metadata/absent.json") is None
    listed = dict(store.list("targets/"))
    assert sorted(listed) == ["targets/a/p-1.0.0.kplugin", "targets/b/p-2.0.0.kplugin"]
    assert all(isinstance(t, float) for t in listed.values())
    store.delete("targets/a/p-1.0.0.kplugin")
    store.delete("targets/a/p-1.0.0.kplugin")  # gone already: quiet
    assert [k for k, _ in store.list("targets/")] == ["targets/b/p-2.0.0.kplugin"]
    for bad in ("../escape", "/abs", "a//b", "a/./b", ""):
        with pytest.raises(ValueError, match="bad storage key"):
            store.put(bad, b"x")


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# GCS is left out: google-cloud-storage retries a refused connection for up to 120 s
# per call before it gives up (its default retry), so its failure is slow to show
@pytest.mark.parametrize("kind", ["s3"])
def test_a_store_that_does_not_answer_is_named(kind, monkeypatch):
    for key, value in {**S3_ENV, "AWS_MAX_ATTEMPTS": "1"}.items():
        monkeypatch.setenv(key, value)
    url = f"http://127.0.0.1:{closed_port()}"
    store = (S3Storage("gone", "p", url, "us-east-1") if kind == "s3"
             else GCSStorage("gone", "p", url))
    where = "s3://gone/p" if kind == "s3" else "gs://gone/p"
    for what, call in [("writing k to", lambda: store.put("k", b"x")),
                       ("reading k from", lambda: store.get("k")),
                       ("deleting k from", lambda: store.delete("k")),
                       ("listing d/ in", lambda: list(store.list("d/")))]:
        with pytest.raises(StorageError) as e:
            call()
        assert str(e.value).startswith(f"{what} {where} failed: "), str(e.value)
        assert e.value.status == 503 and e.value.code == "storage_unavailable"
    with pytest.raises(StorageError, match="bucket 'gone' cannot be used"):
        store.check()


def test_settings_choose_the_backend_or_say_what_is_missing(tmp_path):
    def settings(**kw):
        base = {"storage": "local", "storage_path": None, "data_dir": tmp_path,
                "storage_bucket": None, "storage_prefix": "", "storage_endpoint": None,
                "storage_region": None, "storage_project": None}
        return SimpleNamespace(**{**base, **kw})

    local = open_storage(settings())
    assert isinstance(local, LocalStorage) and local.description == f"folder {tmp_path}/storage"
    with pytest.raises(PluginHostError, match=r"storage_bucket: s3 storage needs a bucket"):
        open_storage(settings(storage="s3"))
    with pytest.raises(PluginHostError, match=r"storage: 'ftp' is not one of local, s3, gcs"):
        open_storage(settings(storage="ftp", storage_bucket="b"))


@pytest.mark.parametrize("kind", ["s3", "gcs"])
def test_a_bucket_that_is_not_there_is_named(kind, request, monkeypatch):
    for key, value in S3_ENV.items():
        monkeypatch.setenv(key, value)
    served = request.getfixturevalue(f"{kind}_server")
    store = S3Storage("no-such-bucket", "p", served.url, "us-east-1") if kind == "s3" \
        else GCSStorage("no-such-bucket", "p", served.url)
    with pytest.raises(StorageError, match="bucket 'no-such-bucket' "):
        store.check()


def test_a_storage_folder_that_cannot_be_made_is_named(tmp_path):
    (tmp_path / "a-file").write_text("")
    with pytest.raises(StorageError, match=r"storage folder .*/a-file/store cannot be created"):
        LocalStorage(tmp_path / "a-file" / "store").check()
