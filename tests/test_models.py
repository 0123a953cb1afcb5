"""Packaged-model resolution: files found through installed distributions, parts joined, checksums."""

import hashlib

import pytest

from ponder.errors import ModelNotFoundError
from ponder.models import PACKAGED_MODELS, PackagedModel, materialize, resolve_model


def fake_dist(site, name, version, relpath, data):
    mod = name.replace("-", "_")
    info = site / f"{mod}-{version}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    f = site / relpath
    f.parent.mkdir(parents=True, exist_ok=True)
    f.write_bytes(data)


@pytest.fixture
def parts(tmp_path, monkeypatch):
    site = tmp_path / "site"
    chunks = [b"GGUF" + bytes(range(50)), bytes(range(200, 256)) * 3, b"tail"]
    for i, c in enumerate(chunks, 1):
        fake_dist(site, f"fakemodel-part{i}", "1.0", f"fakemodel_part{i}/data/p{i}.bin", c)
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.setenv("PONDER_CACHE", str(tmp_path / "cache"))
    whole = b"".join(chunks)
    return PackagedModel(
        name="fake", description="", packages=tuple((f"fakemodel-part{i}", "1.0") for i in (1, 2, 3)),
        files=tuple(f"fakemodel_part{i}/data/p{i}.bin" for i in (1, 2, 3)),
        sha256=hashlib.sha256(whole).hexdigest(), size=len(whole), filename="fake.gguf"), whole


def test_parts_are_joined_in_order_and_verified(parts):
    model, whole = parts
    path = materialize(model)
    assert path.read_bytes() == whole
    assert materialize(model) == path  # second time: cached, stamp reused


def test_checksum_mismatch_is_refused(parts):
    model, _ = parts
    bad = PackagedModel(**{**{f: getattr(model, f) for f in model.__dataclass_fields__}, "sha256": "0" * 64})
    with pytest.raises(ModelNotFoundError, match="SHA-256"):
        materialize(bad)


def test_missing_packages_say_how_to_install(tmp_path, monkeypatch):
    monkeypatch.setenv("PONDER_CACHE", str(tmp_path))
    m = PackagedModel(name="ghost", description="", packages=(("no-such-dist-xyz", "1.0"),),
                      files=("x.gguf",), sha256="0" * 64, size=1, filename="x.gguf")
    with pytest.raises(ModelNotFoundError, match="ponder pull ghost"):
        materialize(m)


def test_resolve_paths_and_names(tmp_path, monkeypatch):
    f = tmp_path / "m.gguf"
    f.write_bytes(b"GGUF")
    assert resolve_model(str(f)) == f
    with pytest.raises(ModelNotFoundError, match="model='/definitely/not/here.gguf'"):
        resolve_model("/definitely/not/here.gguf")
    with pytest.raises(ModelNotFoundError, match="directory"):
        resolve_model(str(tmp_path))
    monkeypatch.setenv("PONDER_MODEL", str(f))
    assert resolve_model(None) == f


def test_registry_pins_versions_and_checksums():
    for m in PACKAGED_MODELS.values():
        assert len(m.sha256) == 64 and len(m.packages) == len(m.files)
        assert all(v for _, v in m.packages)


def test_a_copy_of_a_packaged_gguf_is_recognised_by_content(tmp_path):
    import shutil

    from conftest import TEST_MODEL
    from ponder.models import packaged_name, resolve_model

    try:
        src = resolve_model(TEST_MODEL)
    except Exception as e:  # noqa: BLE001 - not installed here: the conftest policy decides
        pytest.skip(str(e))
    copy = tmp_path / "carried.gguf"
    shutil.copy(src, copy)
    assert packaged_name(str(copy)) == TEST_MODEL == packaged_name(TEST_MODEL)
    (tmp_path / "other.gguf").write_bytes(b"GGUF" + b"\0" * 100)
    assert packaged_name(str(tmp_path / "other.gguf")) is None and packaged_name("/no/such.gguf") is None
