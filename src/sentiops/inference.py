"""Predictor: Hugging Face `tokenizers` + an ONNX Runtime session. No torch, no transformers.

The API, the batch job, evaluation and the CLI all predict through this one class, so that
cleaning, tokenisation and post-processing cannot drift apart between them.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
from tokenizers import Tokenizer

from sentiops.config import Settings
from sentiops.registry import Registry, verify_checksums
from sentiops.text import clean_text

ONNX_FILES = {"int8": "model.int8.onnx", "fp32": "model.onnx"}


@dataclass(frozen=True)
class Prediction:
    label: str
    confidence: float
    scores: dict[str, float]
    tokens: int = 0  # token count after truncation (input-drift statistics)
    unknown: int = 0  # [UNK] tokens among them

    def as_dict(self) -> dict[str, Any]:
        return {"label": self.label, "confidence": self.confidence, "scores": self.scores}


@dataclass
class Predictor:
    version: str
    folder: Path
    session: ort.InferenceSession
    tokenizer: Tokenizer
    labels: list[str]
    max_length: int = 64
    batch_size: int = 64
    variant: str = "int8"
    loaded_at: float = field(default_factory=time.time)

    @classmethod
    def load(
        cls,
        registry: Registry,
        ref: str | None = None,
        variant: str = "int8",
        threads: int = 0,
        batch_size: int = 64,
    ) -> Predictor:
        """Load a registry version (default: production) after verifying its checksums."""
        version = registry.resolve(ref)
        return cls.from_folder(registry.path(version), version, variant, threads, batch_size)

    @classmethod
    def from_settings(cls, settings: Settings, ref: str | None = None, variant: str | None = None) -> Predictor:
        """The one way commands and the API load a version: engine options come from Settings."""
        return cls.load(
            Registry(settings.registry),
            ref,
            variant=variant or settings.onnx_variant,
            threads=settings.intra_op_threads,
            batch_size=settings.inference_batch_size,
        )

    @classmethod
    def from_folder(
        cls,
        folder: Path,
        version: str = "local",
        variant: str = "int8",
        threads: int = 0,
        batch_size: int = 64,
        verify: bool = True,
    ) -> Predictor:
        if verify:
            verify_checksums(folder)
        label_info = json.loads((folder / "labels.json").read_text())
        training = json.loads((folder / "training.json").read_text())
        max_length = int(training.get("max_length", 64))
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        session = ort.InferenceSession(str(folder / ONNX_FILES[variant]), options, providers=["CPUExecutionProvider"])
        tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        tokenizer.no_padding()  # we pad per length bucket ourselves
        tokenizer.enable_truncation(max_length)
        return cls(
            version=version,
            folder=folder,
            session=session,
            tokenizer=tokenizer,
            labels=list(label_info["labels"]),
            max_length=max_length,
            batch_size=batch_size,
            variant=variant,
        )

    @property
    def unk_id(self) -> int | None:
        return self.tokenizer.token_to_id("[UNK]")

    def probabilities(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(probabilities [n, classes], token counts [n], unknown-token counts [n]), in input order."""
        logits, lengths, unknown = self.logits(texts)
        return softmax(logits), lengths, unknown

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
        wanted = {i.name for i in self.session.get_inputs()}
        order = np.argsort(lengths, kind="stable")
        for idx in length_buckets(order, lengths, self.batch_size):
            width = int(lengths[idx].max())
            ids = np.full((len(idx), width), pad_id, dtype=np.int64)
            mask = np.zeros((len(idx), width), dtype=np.int64)
            for row, i in enumerate(idx):
                enc = encodings[i]
                ids[row, : len(enc.ids)] = enc.ids
                mask[row, : len(enc.ids)] = 1
            feeds = {"input_ids": ids, "attention_mask": mask}
            if "token_type_ids" in wanted:
                feeds["token_type_ids"] = np.zeros_like(ids)
            (logits,) = self.session.run(None, {k: v for k, v in feeds.items() if k in wanted})
            out[idx] = logits
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
