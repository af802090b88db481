import json
import os

import pytest

from sentiops.registry import AliasMoved, ChecksumError, Registry, RegistryError


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


def test_promotion_can_be_a_compare_and_swap(tmp_path):
    registry = Registry(tmp_path)
    one, two, three = _publish(registry), _publish(registry), _publish(registry)
    registry.set_alias("production", one)
    registry.set_alias("production", two, only_if=one)
    with pytest.raises(AliasMoved, match="names version 2, no longer 1"):
        registry.set_alias("production", three, only_if=one)
    assert registry.aliases()["production"] == two


def test_every_alias_log_entry_is_a_change_so_rollback_undoes_exactly_the_last_one(tmp_path):
    registry = Registry(tmp_path)
    one, two = _publish(registry), _publish(registry)
    registry.set_alias("production", one, reason="first model")
    registry.set_alias("production", one, reason="train --promote")  # no change, no entry
    registry.set_alias("production", two)
    registry.set_alias("production", two)
    assert len(registry.alias_log.read_text().splitlines()) == 2
    assert registry.rollback() == one
    with pytest.raises(RegistryError, match="nothing to roll back"):
        registry.rollback()


def test_retention_keeps_versions_pinned_by_unfinished_runs(tmp_path):
    registry = Registry(tmp_path)
    versions = [_publish(registry) for _ in range(5)]
    registry.set_alias("production", versions[-1])
    assert registry.prune(keep_last=2, pinned={"1"}) == ["2", "3"]
    assert registry.versions() == ["1", "4", "5"]


def _three_promoted(tmp_path) -> Registry:
    registry = Registry(tmp_path)
    for _ in range(3):
        _publish(registry)
    registry.set_alias("production", "1")
    registry.set_alias("production", "2")
    return registry


def test_a_full_disk_on_the_alias_log_leaves_production_and_rollback_as_they_were(tmp_path, monkeypatch):
    from sentiops import files

    registry = _three_promoted(tmp_path)
    log_before = registry.alias_log.read_bytes()
    real_fsync = os.fsync

    def full(fd):
        if os.readlink(f"/proc/self/fd/{fd}").endswith("alias_log.jsonl"):
            raise OSError(28, "No space left on device")
        real_fsync(fd)

    monkeypatch.setattr(files.os, "fsync", full)
    with pytest.raises(OSError, match="No space"):
        registry.set_alias("production", "3")
    monkeypatch.undo()
    assert registry.aliases()["production"] == "2"
    assert registry.alias_log.read_bytes() == log_before  # no torn line left behind
    assert registry.rollback() == "1"


def test_a_failed_alias_write_takes_its_log_entry_back(tmp_path, monkeypatch):
    from sentiops import registry as registry_module

    registry = _three_promoted(tmp_path)

    def full(path, data):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(registry_module, "write_json_atomic", full)
    with pytest.raises(OSError):
        registry.set_alias("production", "3")
    monkeypatch.undo()
    assert registry.aliases()["production"] == "2"
    assert [e["to"] for e in registry.alias_history()] == ["1", "2"]
    assert registry.rollback() == "1"


def test_a_writer_killed_between_log_and_alias_changes_nothing(tmp_path):
    registry = _three_promoted(tmp_path)
    entry = {"time": 0, "alias": "production", "from": "2", "to": "3", "reason": "promote"}
    with open(registry.alias_log, "a") as handle:  # logged, then killed before aliases.json moved
        handle.write(json.dumps(entry) + "\n")
    assert registry.aliases()["production"] == "2"
    assert registry.rollback() == "1"  # not 2: the promotion to 3 never happened


def test_torn_last_lines_are_skipped_with_a_warning(tmp_path, caplog):
    registry = _three_promoted(tmp_path)
    registry.log_decision({"challenger": "3", "champion": "2", "action": "rejected"})
    for path in (registry.alias_log, registry.decisions_path):
        with open(path, "a") as handle:
            handle.write('{"time": 1, "alias": "produ')  # a writer killed mid-line
    assert [e["to"] for e in registry.alias_history()] == ["1", "2"]
    assert [d["challenger"] for d in registry.decisions()] == ["3"]
    assert "not JSON objects" in caplog.text
    assert registry.rollback() == "1"


def test_an_append_after_a_torn_tail_and_a_bad_middle_line_loses_no_record(tmp_path, caplog):
    registry = _three_promoted(tmp_path)
    registry.log_decision({"challenger": "3", "champion": "2", "action": "rejected"})
    with open(registry.decisions_path, "a") as handle:
        handle.write('{"challenger": "4", "act')  # torn: the next append must start a new line
    registry.log_decision({"challenger": "5", "champion": "2", "action": "rejected"})
    with open(registry.decisions_path, "a") as handle:
        handle.write("[1, 2]\nnot json at all\n")  # bad lines in the middle (a hand edit)
    registry.log_decision({"challenger": "6", "champion": "2", "action": "rejected"})
    assert [d["challenger"] for d in registry.decisions()] == ["3", "5", "6"]
    assert "skipped 3 line(s)" in caplog.text
