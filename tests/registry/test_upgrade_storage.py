"""A registry upgraded from a version that kept packages as files in data_dir/packages
moves them into storage at start and lists the approved ones in its signed index."""

from __future__ import annotations

import json

from plugin_host.package.archive import read_package
from plugin_host.package.index import PluginDocument
from plugin_host.registry.db import MIGRATIONS, Account, PluginRecord, Release
from plugin_host.registry.services import RegistryServices
from plugin_host.registry.settings import RegistrySettings
from plugin_host.service.db import make_engine, make_sessionmaker, migrate


def test_old_package_files_move_into_storage_and_the_index(tmp_path, packages):
    data = packages["hello-world"]
    pkg = read_package(data)
    old = tmp_path / "packages" / "hello-world" / pkg.filename
    old.parent.mkdir(parents=True)
    old.write_bytes(data)
    settings = RegistrySettings(data_dir=tmp_path)
    engine = make_engine(settings.db_url)
    migrate(engine, MIGRATIONS)
    sessions = make_sessionmaker(engine)
    with sessions.begin() as s:  # what an older registry left behind
        s.add(Account(id=1, name="pub", role="publisher"))
        s.add(PluginRecord(name="hello-world", owner_id=1, summary="hi", tags=[]))
        s.add(Release(plugin="hello-world", version="1.0.0", state="approved",
                      sha256=pkg.sha256, size=len(data), signer="k", manifest="",
                      host_api="^1.0", dependencies={}, checks=[], path=str(old)))
    registry = RegistryServices.create(settings, sessions)
    registry.index.check_storage()
    registry.index.start()
    _, downloaded = registry.catalogue.download("hello-world", "1.0.0")
    assert downloaded == data
    stored = tmp_path / "storage" / "targets" / "packages" / "hello-world"
    assert [p.name for p in stored.iterdir()] == [f"{pkg.sha256}.{pkg.filename}"]
    doc = next((tmp_path / "storage" / "targets" / "plugins").glob("*.hello-world.json"))
    listed = json.loads(doc.read_text())["releases"]["1.0.0"]
    parsed = PluginDocument.from_json(doc.read_bytes(), "hello-world")  # as a host reads it
    assert parsed.summary == "hi" and parsed.publisher == "pub"
    assert listed["target"] == f"packages/hello-world/{pkg.filename}"
    engine.dispose()
