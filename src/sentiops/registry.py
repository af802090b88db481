"""A versioned model registry in a folder (the shared volume).

registry/
  versions/1/ ... CHECKSUMS     immutable; written under a temp name, then renamed (files: sentiops.version)
  aliases.json                  {"production": "2", "staging": "3"}, replaced atomically
  alias_log.jsonl               every alias change, so rollback knows what came before
  decisions.jsonl               one line per promotion decision, with its numbers
  .lock                         file lock for version numbering and alias changes
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, get_args

from filelock import FileLock

from sentiops.files import append_line, read_json_lines, truncate, write_json_atomic
from sentiops.version import ChecksumError, RegistryError, TrainingRecord, VersionFolder

__all__ = ["ALIASES", "AliasMoved", "ChecksumError", "Registry", "RegistryError", "VersionFolder"]
Alias = Literal["production", "staging"]
ALIASES: tuple[Alias, ...] = get_args(Alias)


class AliasMoved(RegistryError):
    """A compare-and-swap found the alias no longer where the caller last saw it."""


@dataclass
class PendingVersion:
    """A version being written: fill ``path``; ``number`` is set once it is published."""

    path: Path
    number: str = ""


class Registry:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.versions_dir = self.root / "versions"
        self.aliases_path = self.root / "aliases.json"
        self.alias_log = self.root / "alias_log.jsonl"
        self.decisions_path = self.root / "decisions.jsonl"

    # -- locking ---------------------------------------------------------------------------
    def lock(self, timeout: float = 60) -> FileLock:
        self.root.mkdir(parents=True, exist_ok=True)
        return FileLock(str(self.root / ".lock"), timeout=timeout)

    # -- versions --------------------------------------------------------------------------
    def versions(self) -> list[str]:
        if not self.versions_dir.is_dir():
            return []
        return sorted((p.name for p in self.versions_dir.iterdir() if p.name.isdigit()), key=int)

    def path(self, version: str) -> Path:
        path = self.versions_dir / str(version)
        if not str(version).isdigit() or not path.is_dir():
            raise RegistryError(f"model version {version!r} not found in {self.root}")
        return path

    @contextmanager
    def new_version(self) -> Iterator[PendingVersion]:
        """A temp folder to fill; on success it is checksummed and renamed to the next number.

        Readers never see a half-written version: an exception (or a kill) leaves only a
        dot-folder behind, which `cleanup_temp` removes and `versions()` never lists.
        """
        self.versions_dir.mkdir(parents=True, exist_ok=True)
        pending = PendingVersion(Path(tempfile.mkdtemp(prefix=".tmp-", dir=self.versions_dir)))
        try:
            yield pending
            VersionFolder(pending.path).write_checksums()
            pending.path.chmod(0o755)  # mkdtemp makes it private; serving pods must read it
            with self.lock():
                versions = self.versions()
                pending.number = str(int(versions[-1]) + 1 if versions else 1)
                os.rename(pending.path, self.versions_dir / pending.number)
        except BaseException:
            shutil.rmtree(pending.path, ignore_errors=True)
            raise

    def cleanup_temp(self, older_than_s: float = 3600) -> int:
        """Remove temp folders left by killed writers (older than an hour by default)."""
        removed = 0
        if self.versions_dir.is_dir():
            for path in self.versions_dir.glob(".tmp-*"):
                if time.time() - path.stat().st_mtime > older_than_s:
                    shutil.rmtree(path, ignore_errors=True)
                    removed += 1
        return removed

    def verify(self, version: str) -> Path:
        """The version folder, after checking every file against CHECKSUMS."""
        path = self.path(version)
        VersionFolder(path).verify()
        return path

    def folder(self, version: str) -> VersionFolder:
        """The version's files, typed (sentiops.version), without verifying them."""
        return VersionFolder(self.path(version))

    def training(self, version: str) -> TrainingRecord:
        return self.folder(version).training()

    def delete(self, version: str, pinned: set[str] | None = None) -> None:
        with self.lock():
            protected = self.protected() | (pinned or set())
            if str(version) in protected:
                raise RegistryError(f"version {version} is protected ({', '.join(sorted(protected))})")
            path = self.path(version)
            trash = self.versions_dir / f".tmp-delete-{version}"
            os.rename(path, trash)  # disappears atomically, then is removed
            shutil.rmtree(trash, ignore_errors=True)

    def protected(self) -> set[str]:
        """Versions retention must keep: aliased ones and the production version's parent."""
        keep = {v for v in self.aliases().values() if v}
        production = self.aliases().get("production")
        if production:
            parent = self.training(production).parent_version
            if parent:
                keep.add(str(parent))
        return keep

    def prune(self, keep_last: int, pinned: set[str] | None = None) -> list[str]:
        """Delete all but the newest ``keep_last`` versions, never a protected one, nor one in
        ``pinned`` (versions that unfinished batch runs score with)."""
        removed = []
        for version in self.versions()[:-keep_last] if keep_last > 0 else []:
            if version not in self.protected() | (pinned or set()):
                self.delete(version, pinned)
                removed.append(version)
        return removed

    # -- aliases ---------------------------------------------------------------------------
    def aliases(self) -> dict[str, str]:
        if not self.aliases_path.is_file():
            return {}
        return json.loads(self.aliases_path.read_text())

    def resolve(self, ref: str | None = None) -> str:
        """A version number for a number, an alias name, or None (meaning production)."""
        ref = ref or "production"
        if str(ref).isdigit():
            self.path(ref)
            return str(ref)
        version = self.aliases().get(ref)
        if version is None:
            raise RegistryError(f"no {ref!r} version in {self.root}: train a model first (`sentiops train`)")
        return version

    def set_alias(self, alias: str, version: str, reason: str = "promote", only_if: str | None = None) -> str | None:
        """Point an alias at a version under the lock; returns the previous target.

        With ``only_if`` it is a compare-and-swap: it raises AliasMoved unless the alias still
        names ``only_if``. Pointing an alias where it already points changes
        nothing and logs nothing, so every alias-log entry is a change that rollback can undo.
        """
        if alias not in ALIASES:
            raise RegistryError(f"unknown alias {alias!r}; expected one of {', '.join(ALIASES)}")
        with self.lock():
            self.path(version)
            aliases = self.aliases()
            previous = aliases.get(alias)
            if only_if is not None and previous != only_if:
                raise AliasMoved(f"{alias} names version {previous}, no longer {only_if}")
            if previous == str(version):
                return previous
            aliases[alias] = str(version)
            self._change_alias(aliases, alias, previous, str(version), reason)
        return previous

    def rollback(self, alias: str = "production") -> str:
        """Point the alias back to the version it had before its latest promotion."""
        with self.lock():
            stack = self._alias_stack(alias)
            if len(stack) < 2:
                raise RegistryError(f"nothing to roll back to: {alias} has had only {stack or 'no'} version")
            current, target = stack[-1], stack[-2]
            self.path(target)
            aliases = self.aliases()
            aliases[alias] = target
            self._change_alias(aliases, alias, current, target, "rollback")
        return target

    def _change_alias(self, aliases: dict[str, str], alias: str, old: str | None, new: str, reason: str) -> None:
        """Log first, then move the alias; if the move fails the log entry is taken back. A kill
        between the two leaves an entry the aliases do not show, which `_alias_stack` ignores: the
        log and the aliases agree after any single failure."""
        entry = {"time": time.time(), "alias": alias, "from": old, "to": new, "reason": reason}
        size = append_line(self.alias_log, json.dumps(entry))
        try:
            write_json_atomic(self.aliases_path, aliases)
        except BaseException:
            truncate(self.alias_log, size)
            raise

    def alias_history(self) -> list[dict[str, Any]]:
        """Every alias change that took effect, oldest first: time, alias, from, to, reason."""
        entries = read_json_lines(self.alias_log)
        aliases = self.aliases()
        for alias in {e["alias"] for e in entries}:
            mine = [i for i, e in enumerate(entries) if e["alias"] == alias]
            if mine and entries[mine[-1]]["to"] != aliases.get(alias):
                del entries[mine[-1]]  # logged, then killed before the alias moved: it never happened
        return entries

    def _alias_stack(self, alias: str) -> list[str]:
        stack: list[str] = []
        for entry in self.alias_history():
            if entry["alias"] != alias:
                continue
            if entry["reason"] == "rollback":
                stack.pop()
            else:
                stack.append(entry["to"])
        return stack

    def log_decision(self, decision: dict[str, Any]) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        with self.lock():
            append_line(self.decisions_path, json.dumps({"time": time.time(), **decision}))

    def decisions(self) -> list[dict[str, Any]]:
        return read_json_lines(self.decisions_path)
