"""A text summary of a py-spy profile (`py-spy record --format raw`: one collapsed stack and its
sample count per line): where the server's threads spend their time, by function.

    python benchmarks/profile_summary.py PROFILE.txt SECONDS RATE_HZ [--top 25]
"""

from __future__ import annotations

import argparse
import re
from collections import Counter
from pathlib import Path

_LINE = re.compile(r"^(.*) (\d+)$")


def thread_of(frames: list[str]) -> str:
    """The event loop (uvicorn's main thread), the engine's worker thread, or another thread."""
    joined = ";".join(frames)
    if "thread_name_prefix" in joined or "_worker (concurrent/futures/thread.py" in joined:
        return "inference thread" if "Predictor" in joined or "run_in_executor" in joined else "worker threads"
    if frames and frames[0].startswith("Thread."):
        return "other threads"
    return "event loop"


def _short(frame: str) -> str:
    # "func (path/to/file.py:123)" -> "func (path/to/file.py)": lines split one function apart
    return re.sub(r":\d+\)$", ")", frame)


def summarize(text: str, seconds: float, rate_hz: float, top: int = 25) -> str:
    per_thread: Counter[str] = Counter()
    own: dict[str, Counter[str]] = {}
    inclusive: dict[str, Counter[str]] = {}
    for line in text.splitlines():
        found = _LINE.match(line.strip())
        if not found:
            continue
        frames = [_short(f) for f in found.group(1).split(";")]
        count = int(found.group(2))
        thread = thread_of(frames)
        per_thread[thread] += count
        own.setdefault(thread, Counter())[frames[-1]] += count
        for frame in set(frames):
            inclusive.setdefault(thread, Counter())[frame] += count
    possible = seconds * rate_hz
    lines = [f"py-spy, {seconds:g} s at {rate_hz:g} Hz ({possible:.0f} samples per busy thread); idle not sampled", ""]
    for thread, samples in per_thread.most_common():
        lines.append(f"## {thread}: busy {samples / possible:.0%} of the time ({samples} samples)")
        lines.append("self time (share of this thread's busy samples):")
        for frame, n in own[thread].most_common(top):
            lines.append(f"  {n / samples:6.1%}  {frame}")
        lines.append("inclusive time:")
        for frame, n in inclusive[thread].most_common(top):
            lines.append(f"  {n / samples:6.1%}  {frame}")
        lines.append("")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("profile", type=Path)
    parser.add_argument("seconds", type=float)
    parser.add_argument("rate_hz", type=float)
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args()
    print(summarize(args.profile.read_text(), args.seconds, args.rate_hz, args.top))


if __name__ == "__main__":
    main()
