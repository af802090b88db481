"""Predictor: Hugging Face `tokenizers` + an inference engine (ONNX Runtime or OpenVINO).
No torch, no transformers.

The API, the batch job, evaluation and the CLI all predict through this one class, so that
cleaning, tokenisation and post-processing cannot drift apart between them. Which engine runs
is `SENTIOPS_BACKEND`: a named one, or `auto` (see `choose_backend`).
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from tokenizers import Tokenizer

from sentiops.config import DEFAULT_MAX_LENGTH, Backend, BackendSetting, Settings
from sentiops.engines import REFERENCE, Engine, cpu_signature, eligible, open_engine
from sentiops.evaluation.paired import mcnemar_p
from sentiops.files import write_json_atomic
from sentiops.registry import Registry
from sentiops.text import clean_text
from sentiops.version import VersionFolder

log = logging.getLogger(__name__)
# `auto` leaves an engine out for accuracy only on evidence: on the version's validation rows fp32
# is right where the engine is wrong more often than the reverse, and an exact McNemar test on
# those discordant rows rejects "equally accurate" at this level. Engines disagree on 1-2% of
# tweets: a flat rule (0.3 points, still applied to versions packaged without the paired counts)
# excluded an engine for 8 tweets of 2,000 at 98.7% agreement, noise that cost 15% of speed.
AUTO_SIGNIFICANCE = 0.05
AUTO_MAX_ACCURACY_DROP = 0.003
_FALLBACK_TEXTS = [
    "I love this so much, best day ever!",
    "This is awful. I hate everything about today.",
    "just got home, long day at work but the weather was nice",
    "@someone can't believe the game last night, what a finish http://t.co/x",
]


@dataclass(frozen=True)
class Prediction:
    label: str
    confidence: float
    scores: dict[str, float]
    tokens: int = 0  # token count after truncation (input-drift statistics)
    unknown: int = 0  # [UNK] tokens among them

    def as_dict(self) -> dict[str, Any]:
        return {"label": self.label, "confidence": self.confidence, "scores": self.scores}

    def two_class(self) -> Prediction:
        """The negative / positive view: neutral folded out, the larger of the two scores decides
        and both are renormalised to sum to 1 (for binary-only clients; a binary answer is kept)."""
        if set(self.scores) <= {"negative", "positive"}:
            return self
        negative, positive = self.scores["negative"], self.scores["positive"]
        total = max(negative + positive, 1e-12)
        scores = {"negative": negative / total, "positive": positive / total}
        label = "positive" if positive > negative else "negative"
        return Prediction(label, scores[label], scores, self.tokens, self.unknown)


class TwoClassView:
    """A predictor read in the negative / positive view: how a three-class model is compared with a
    binary one on the checks that know two classes (behaviour, agreement)."""

    def __init__(self, predictor: Predictor) -> None:
        self.predictor = predictor

    def predict(self, texts: list[str]) -> list[Prediction]:
        return [p.two_class() for p in self.predictor.predict(texts)]


@dataclass
class Predictor:
    version: str
    folder: Path
    engine: Engine
    tokenizer: Tokenizer
    labels: list[str]
    max_length: int = DEFAULT_MAX_LENGTH
    batch_size: int = 64
    loaded_at: float = field(default_factory=time.time)
    # How the engine was picked: "named" or the `auto` timings (texts/s per eligible engine).
    choice: dict[str, Any] = field(default_factory=dict)
    # Pad each sub-batch only to its longest text instead of the engine's width step. Faster for
    # a long-running batch job (measured +13% with OpenVINO), but every new width compiles and
    # caches kernels, so a server keeps the step to bound its memory.
    exact_widths: bool = False

    @property
    def backend(self) -> Backend:
        return self.engine.backend

    @classmethod
    def load(
        cls,
        registry: Registry,
        ref: str | None = None,
        backend: BackendSetting = "ort-int8",
        threads: int = 0,
        batch_size: int = 64,
        spinning: bool = True,
        choice_cache: Path | None = None,
    ) -> Predictor:
        """Load a registry version (default: production) after verifying its checksums."""
        version = registry.resolve(ref)
        folder = registry.path(version)
        return cls.from_folder(
            folder, version, backend, threads, batch_size, spinning=spinning, choice_cache=choice_cache
        )

    @classmethod
    def from_settings(
        cls, settings: Settings, ref: str | None = None, backend: BackendSetting | None = None, spinning: bool = True
    ) -> Predictor:
        """The one way commands and the API load a version: engine options come from Settings
        (`spinning=False`: the second model of a process, see engines.open_engine)."""
        return cls.load(
            Registry(settings.registry),
            ref,
            backend=backend or settings.backend,
            threads=settings.intra_op_threads,
            batch_size=settings.inference_batch_size,
            spinning=spinning,
            choice_cache=engine_choices(settings.results),
        )

    @classmethod
    def from_folder(
        cls,
        folder: Path,
        version: str = "local",
        backend: BackendSetting = "ort-int8",
        threads: int = 0,
        batch_size: int = 64,
        verify: bool = True,
        spinning: bool = True,
        choice_cache: Path | None = None,
    ) -> Predictor:
        files = VersionFolder(folder)
        if verify:
            files.verify()
        labels = files.labels().labels
        max_length = files.training().max_length
        tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        tokenizer.no_padding()  # we pad per length bucket ourselves
        tokenizer.enable_truncation(max_length)

        def build(engine: Engine, choice: dict[str, Any]) -> Predictor:
            return cls(version, folder, engine, tokenizer, labels, max_length, batch_size, choice=choice)

        if backend != "auto":
            return build(open_engine(folder, backend, threads, spinning), {"mode": "named", "backend": backend})
        return choose_backend(folder, build, threads, spinning, choice_cache)

    @property
    def unk_id(self) -> int | None:
        return self.tokenizer.token_to_id("[UNK]")

    def probabilities(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(probabilities [n, classes], token counts [n], unknown-token counts [n]), in input order."""
        logits, lengths, unknown = self.logits(texts)
        return softmax(logits), lengths, unknown

    def feeds(self, texts: list[str]) -> list[dict[str, np.ndarray]]:
        """One engine input per text, unpadded (calibration data for static quantisation)."""
        found = []
        for encoding in self.tokenizer.encode_batch([clean_text(t) for t in texts]):
            ids = np.array([encoding.ids], dtype=np.int64)
            found.append(self._feed(ids, np.ones_like(ids)))
        return found

    def _feed(self, ids: np.ndarray, mask: np.ndarray) -> dict[str, np.ndarray]:
        """The inputs this engine's graph takes, from token ids and their attention mask."""
        feed = {"input_ids": ids, "attention_mask": mask}
        if "token_type_ids" in self.engine.inputs:
            feed["token_type_ids"] = np.zeros_like(ids)
        return {k: v for k, v in feed.items() if k in self.engine.inputs}

    def logits(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(logits [n, classes], token counts [n], unknown-token counts [n]), in input order.

        Texts are sorted by token length and run in sub-batches so that padding stays small;
        results are put back in input order.
        """
        n = len(texts)
        out = np.zeros((n, len(self.labels)), dtype=np.float32)
        if n == 0:
            return out, np.zeros(0, dtype=np.int32), np.zeros(0, dtype=np.int32)
        encodings = self.tokenizer.encode_batch([clean_text(t) for t in texts])
        lengths = np.array([len(e.ids) for e in encodings], dtype=np.int32)
        unk = self.unk_id
        unknown = np.array([e.ids.count(unk) if unk is not None else 0 for e in encodings], dtype=np.int32)
        pad_id = self.tokenizer.token_to_id("[PAD]") or 0
        step = 1 if self.exact_widths else self.engine.width_step
        order = np.argsort(lengths, kind="stable")
        # Bucket on widths rounded to the engine's step: texts that pad to the same width share a batch.
        rounded = -(-lengths // step) * step
        for idx in length_buckets(order, rounded, self.batch_size):
            width = int(rounded[idx].max())
            ids = np.full((len(idx), width), pad_id, dtype=np.int64)
            mask = np.zeros((len(idx), width), dtype=np.int64)
            for row, i in enumerate(idx):
                enc = encodings[i]
                ids[row, : len(enc.ids)] = enc.ids
                mask[row, : len(enc.ids)] = 1
            out[idx] = self.engine.run(self._feed(ids, mask))
        return out, lengths, unknown

    def predict(self, texts: list[str]) -> list[Prediction]:
        probs, lengths, unknown = self.probabilities(texts)
        results = []
        for row, n_tok, n_unk in zip(probs, lengths, unknown, strict=True):
            best = int(row.argmax())
            results.append(
                Prediction(
                    label=self.labels[best],
                    confidence=float(row[best]),
                    scores={name: float(p) for name, p in zip(self.labels, row, strict=True)},
                    tokens=int(n_tok),
                    unknown=int(n_unk),
                )
            )
        return results

    def warm_up(self) -> None:
        """Run a few requests of different lengths so the first real request is not slow."""
        self.predict(["warm up", "a somewhat longer warm-up sentence " * 4])


def length_buckets(order: np.ndarray, lengths: np.ndarray, max_size: int, max_padding: float = 0.1) -> list[np.ndarray]:
    """Cut length-sorted indices into sub-batches that waste at most ``max_padding`` on padding.

    At this model size padding costs more than small matrices do: measured on 2 cores,
    random 32-text batches ran at 147 texts/s in one sub-batch and 234 texts/s in sub-batches
    of 4; a bulk sorted stream keeps large sub-batches because its neighbours have equal length.
    """
    batches: list[np.ndarray] = []
    current: list[int] = []
    total = 0
    for i in order:
        length = int(lengths[i])
        size = len(current) + 1
        if current and (size > max_size or length * size > (total + length) * (1 + max_padding)):
            batches.append(np.array(current))
            current, total = [], 0
        current.append(i)
        total += length
    if current:
        batches.append(np.array(current))
    return batches


def softmax(logits: np.ndarray) -> np.ndarray:
    if len(logits) == 0:
        return logits
    shifted = logits - logits.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=1, keepdims=True)


def engine_choices(results: Path) -> Path:
    """Where `auto` keeps its choices on the volume (results/engines/), per version and CPU."""
    return results / "engines"


def calibration_texts(folder: Path, n: int = 256) -> list[str]:
    """The version's stored training tweets (a generic set for versions packaged without them)."""
    texts = VersionFolder(folder).calibration_texts() or _FALLBACK_TEXTS
    return [texts[i % len(texts)] for i in range(n)]


def accurate_enough(folder: Path, candidates: list[Backend]) -> tuple[list[Backend], dict[str, str]]:
    """Engines not shown less accurate than fp32 on the version's validation rows (stored at packaging).

    With the paired counts: left out only when fp32 alone is right more often and the exact
    McNemar p-value is below AUTO_SIGNIFICANCE. Versions packaged without them: the flat
    AUTO_MAX_ACCURACY_DROP rule. Engines with no stored accuracy are left out, except fp32 ones
    (the same weights, exactly); versions packaged before per-engine accuracies read ONNX
    Runtime's two from their parity numbers (sentiops.version migrates them).
    """
    backends = VersionFolder(folder).metrics().backends
    reference = backends[REFERENCE].validation_accuracy if REFERENCE in backends else None
    kept: list[Backend] = []
    excluded: dict[str, str] = {}
    for backend in candidates:
        entry = backends.get(backend)
        if backend in (REFERENCE, "openvino-fp32"):
            kept.append(backend)
        elif entry is None or entry.validation_accuracy is None or reference is None:
            excluded[backend] = "no validation accuracy recorded for this version"
        elif entry.only_fp32_right is not None and entry.only_engine_right is not None:
            p = mcnemar_p(entry.only_engine_right, entry.only_fp32_right)
            if entry.only_fp32_right > entry.only_engine_right and p < AUTO_SIGNIFICANCE:
                excluded[backend] = (
                    f"less accurate than fp32 on validation: {entry.only_fp32_right} rows only fp32 right, "
                    f"{entry.only_engine_right} only this engine (exact McNemar p {p:.4f})"
                )
            else:
                kept.append(backend)
        elif reference - entry.validation_accuracy > AUTO_MAX_ACCURACY_DROP:
            excluded[backend] = f"validation accuracy {entry.validation_accuracy:.4f} vs fp32 {reference:.4f}"
        else:
            kept.append(backend)
    return kept, excluded


def choose_backend(
    folder: Path, build: Any, threads: int = 0, spinning: bool = True, cache: Path | None = None
) -> Predictor:
    """`auto`: time each eligible, accurate-enough engine on the version's own tweets; keep the fastest.

    An engine that fails to load is skipped (and said so); the timings go with the choice into
    logs, `/model`, the metrics and batch manifests. With `cache` (a folder on the volume) the
    choice is kept per version content and CPU signature, and a later load on the same kind of
    machine opens the chosen engine alone: choosing costs one timing per version and CPU, not one
    per process. A cache that cannot be read or written is only logged.
    """
    candidates, excluded = accurate_enough(folder, eligible(folder))
    key = _choice_key(folder, threads)
    cached = _cached_choice(cache, key) if cache is not None else None
    if cached is not None and cached.get("backend") in candidates:
        try:
            predictor = build(open_engine(folder, cached["backend"], threads, spinning), {})
        except Exception as exc:  # the engine no longer runs here: time them all again
            log.warning("cached engine choice %s failed to load: %s", cached["backend"], exc)
        else:
            predictor.choice = {**cached, "cached": True}
            log.info("backend auto: %s (cached choice for %s)", predictor.backend, key["cpu"])
            return predictor
    # 64 tweets rank engines that differ by 20% or more (they differ by up to 9x); the warm-up takes
    # every length bucket once. Timing 128 twice cost a 30,000-row batch 22% of its rate (make bench-auto).
    texts = calibration_texts(folder, 64)
    timings: dict[str, float] = {}
    best: Predictor | None = None
    for backend in candidates:
        try:
            predictor = build(open_engine(folder, backend, threads, spinning), {})
            predictor.probabilities(texts)  # warm-up on the same texts: allocations, kernels per width
            started = time.perf_counter()
            predictor.probabilities(texts)
            timings[backend] = round(len(texts) / (time.perf_counter() - started), 1)
        except Exception as exc:  # an engine that cannot run here is not a reason to fail
            excluded[backend] = f"failed to load or run: {exc}"
            continue
        if best is None or timings[backend] > timings[best.backend]:
            best = predictor
    if best is None:
        raise RuntimeError(f"no engine could run version folder {folder}: {excluded}")
    best.choice = {"mode": "auto", "backend": best.backend, "texts_per_second": timings, "excluded": excluded}
    log.info("backend auto: %s (texts/s %s; excluded %s)", best.backend, timings, excluded or "none")
    if cache is not None:
        try:
            cache.mkdir(parents=True, exist_ok=True)
            write_json_atomic(_choice_file(cache, key), {**best.choice, **key})
        except OSError as exc:  # a read-only volume (the API's): the next process times again
            log.debug("engine choice not cached: %s", exc)
    return best


def _choice_key(folder: Path, threads: int) -> dict[str, str]:
    checksums = VersionFolder(folder).path / "CHECKSUMS"
    content = hashlib.sha256(checksums.read_bytes()).hexdigest()[:16] if checksums.is_file() else folder.name
    return {"version_content": content, "cpu": cpu_signature(threads)}


def _choice_file(cache: Path, key: dict[str, str]) -> Path:
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]
    return cache / f"{key['version_content']}-{digest}.json"


def _cached_choice(cache: Path, key: dict[str, str]) -> dict[str, Any] | None:
    path = _choice_file(cache, key)
    try:
        found = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        log.warning("engine choice cache %s unreadable: %s", path, exc)
        return None
    if not isinstance(found, dict) or any(found.get(k) != v for k, v in key.items()):
        return None
    return found
