"""The records of a JSON list file (labelling tools' exports), one at a time.

ijson's event stream (`basic_parse`: no path prefixes, whose size grows with the nesting) is
built into one record at a time, so memory follows the largest record, not the file; a record
nested deeper than MAX_DEPTH is skipped (its events still consumed) and reported, never
recursed into; a file that stops being valid JSON half-way keeps the records before the fault.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import ijson

MAX_DEPTH = 32  # a labelling tool's record is a few levels deep
_STARTS = {"start_map", "start_array"}
_ENDS = {"end_map", "end_array"}
_BOM = b"\xef\xbb\xbf"


def json_records(path: Path) -> Iterator[tuple[int, Any, str | None]]:
    """(n, record, problem) for each item of the file's top-level list, n from 1; ``problem`` is
    set (and the record None) for an item that could not be read. Raises ValueError when the file
    is not a JSON list at all."""
    with open(path, "rb") as raw:
        if raw.read(3) != _BOM:  # Excel and some editors write one: it is not JSON
            raw.seek(0)
        events = ijson.basic_parse(raw, use_float=True)
        try:
            first, _ = next(events)
        except StopIteration:
            raise ValueError(f"{path}: empty, expected a JSON list of tasks or records") from None
        except ijson.JSONError as exc:
            raise ValueError(f"{path}: not JSON ({exc})") from None
        if first != "start_array":
            try:
                for _ in events:  # valid JSON of another shape, or not JSON at all? (streamed, no memory)
                    pass
            except ijson.JSONError as exc:
                raise ValueError(f"{path}: not JSON ({exc})") from None
            raise ValueError(f"{path}: expected a JSON list of tasks or records")
        n = 0
        try:
            for event, value in events:
                if event == "end_array":
                    return
                n += 1
                record, problem = _build(event, value, events)
                yield n, record, problem
        except ijson.JSONError as exc:
            yield n + 1, None, f"not valid JSON from here on ({exc}); the records before it were read"


def _build(event: str, value: Any, events: Iterator[tuple[str, Any]]) -> tuple[Any, str | None]:
    """One item from its first event on: built with an explicit stack (no recursion), or skipped
    when it nests deeper than MAX_DEPTH."""
    if event not in _STARTS:
        return value, None
    root: Any = {} if event == "start_map" else []
    stack: list[Any] = [root]
    keys: list[Any] = [None]
    depth, too_deep = 1, False
    for event, value in events:
        if event in _STARTS:
            depth += 1
            too_deep = too_deep or depth > MAX_DEPTH
            if not too_deep:
                child: Any = {} if event == "start_map" else []
                _put(stack[-1], keys[-1], child)
                stack.append(child)
                keys.append(None)
        elif event in _ENDS:
            depth -= 1
            if depth == 0:
                return (None, f"nested deeper than {MAX_DEPTH} levels") if too_deep else (root, None)
            if not too_deep:
                stack.pop()
                keys.pop()
        elif event == "map_key":
            if not too_deep:
                keys[-1] = value
        elif not too_deep:
            _put(stack[-1], keys[-1], value)
    raise ijson.IncompleteJSONError("the file ends inside a record")


def _put(container: Any, key: Any, value: Any) -> None:
    if isinstance(container, dict):
        container[key] = value
    else:
        container.append(value)
