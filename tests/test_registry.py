import json
import os

import pytest

from sentiops.registry import ChecksumError, Registry, RegistryError


def _publish(registry: Registry, content: str = "x", parent: str | None = None) -> str:
    with registry.new_version() as pending:
        (pending.path / "weights.bin").write_text(content)
        (pending.path / "training.json").write_text(json.dumps({"parent_version": parent}))
    return pending.number


def test_versions_are_numbered_and_checksummed(tmp_path):
    registry = Registry(tmp_path)
    assert [_publish(registry), _publish(registry)] == ["1", "2"]
    assert registry.versions() == ["1", "2"]
    registry.verify("1")
    assert "weights.bin" in (tmp_path / "versions" / "1" / "CHECKSUMS").read_text()


def test_one_changed_byte_is_refused(tmp_path):
    registry = Registry(tmp_path)
    version = _publish(registry, "abcdef")
    target = registry.path(version) / "weights.bin"
    data = bytearray(target.read_bytes())
    data[0] ^= 1
    target.write_bytes(bytes(data))
    with pytest.raises(ChecksumError, match="checksum mismatch for weights.bin"):
        registry.verify(version)


def test_missing_file_is_refused(tmp_path):
    registry = Registry(tmp_path)
    version = _publish(registry)
    os.remove(registry.path(version) / "weights.bin")
    with pytest.raises(ChecksumError, match="missing files"):
        registry.verify(version)


def test_failed_writer_leaves_no_version(tmp_path):
    registry = Registry(tmp_path)
    with pytest.raises(RuntimeError), registry.new_version() as pending:
        (pending.path / "half.bin").write_text("half")
        raise RuntimeError("killed")
    assert registry.versions() == []
    assert list((tmp_path / "versions").iterdir()) == []


def test_promote_and_rollback(tmp_path):
    registry = Registry(tmp_path)
    for _ in range(3):
        _publish(registry)
    with pytest.raises(RegistryError, match="no 'production' version"):
        registry.resolve()
    registry.set_alias("production", "1")
    registry.set_alias("production", "2")
    registry.set_alias("production", "3")
    assert registry.resolve() == "3"
    assert registry.rollback() == "2"
    assert registry.rollback() == "1"
    with pytest.raises(RegistryError, match="nothing to roll back"):
        registry.rollback()
    assert json.loads((tmp_path / "aliases.json").read_text()) == {"production": "1"}


def test_unknown_alias_and_version(tmp_path):
    registry = Registry(tmp_path)
    _publish(registry)
    with pytest.raises(RegistryError, match="unknown alias"):
        registry.set_alias("canary", "1")
    with pytest.raises(RegistryError, match="not found"):
        registry.set_alias("production", "9")


def test_prune_keeps_protected_versions(tmp_path):
    registry = Registry(tmp_path)
    _publish(registry)
    _publish(registry)
    _publish(registry, parent="1")
    for _ in range(3):
        _publish(registry)
    registry.set_alias("production", "3")
    registry.set_alias("staging", "2")
    removed = registry.prune(keep_last=2)
    assert removed == ["4"]
    assert registry.versions() == ["1", "2", "3", "5", "6"]
    with pytest.raises(RegistryError, match="protected"):
        registry.delete("3")
