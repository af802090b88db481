"""The contract of a registry version folder: every file it holds, as typed models, in one place.

registry/versions/N/
  labels.json        LabelMap         the classes, in the model's output order
  training.json      TrainingRecord   options, data hashes, lineage, timings
  metrics.json       Metrics          validation / holdout (/ newest) reports, engine parity,
                                      per-engine accuracy, calibration
  reference.json     Profile          what the model predicted on validation: the drift reference
  calibration.json   a sample of training tweets (engine calibration, `auto` timing)
  card.json          the model card's facts at packaging (sentiops/card.py); absent before cards
  CHECKSUMS          Checksums        sha256 of every other file
  model.onnx, model.int8.onnx, model.ov-int8.*, tokenizer.json, hf/, *.png

Nothing else opens these files by name: readers go through `VersionFolder`, which also migrates
the folders of earlier releases on read (see each model's `_migrate`), so a version written by
any release still loads.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator
from typing_extensions import TypedDict

from sentiops.config import DEFAULT_MAX_LENGTH
from sentiops.files import sha256_file

LABELS_FILE = "labels.json"
TRAINING_FILE = "training.json"
METRICS_FILE = "metrics.json"
REFERENCE_FILE = "reference.json"
CALIBRATION_FILE = "calibration.json"
CARD_FILE = "card.json"
CHECKSUMS_FILE = "CHECKSUMS"


class RegistryError(RuntimeError):
    """A registry operation that cannot be done (unknown version, bad checksum, ...); `sentiops.registry`
    re-exports it."""


class ChecksumError(RegistryError):
    """A version folder whose files do not match its CHECKSUMS (or that has none)."""


class _Record(BaseModel):
    """Fields this release does not know are kept, so a round trip loses nothing."""

    model_config = ConfigDict(extra="allow")


# -- labels.json -------------------------------------------------------------------------------
class LabelMap(_Record):
    labels: list[str] = Field(default_factory=lambda: ["negative", "positive"])
    label2id: dict[str, int] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _fill_ids(self) -> LabelMap:
        if not self.label2id:
            self.label2id = {name: i for i, name in enumerate(self.labels)}
        return self

    @property
    def score_columns(self) -> list[str]:
        """The batch scores' probability columns, one per class in output order."""
        return [score_column(name) for name in self.labels]


def score_column(label: str) -> str:
    return f"score_{label}"


# -- training.json -----------------------------------------------------------------------------
class FeedbackFile(_Record):
    path: str = ""
    sha256: str


class DataLineage(_Record):
    manifest_sha256: str | None = None
    train_file_sha256: str | None = None
    train_rows: int | None = None
    feedback_files: list[FeedbackFile] = Field(default_factory=list)
    rows: dict[str, int] = Field(default_factory=dict)
    replay_share: float | None = None
    # Trained on no text whose hash falls in this share (the trusted evaluation set's side); None:
    # a version from before the trusted set, which may have trained on any feedback text.
    trusted_share: float | None = None
    # A three-class model's class shares trained, the balanced shares its head was moved to and the
    # head-bias shift between them (training/finetune.adjust_for_prior); None for a binary one.
    class_priors: dict[str, Any] | None = None
    # When the people's and other labels of the parts a retrain read were received (ISO, UTC).
    labels_window: dict[str, str] | None = None


class TrainingRecord(_Record):
    options: dict[str, Any] = Field(default_factory=dict)
    max_length: int = DEFAULT_MAX_LENGTH  # releases before it was recorded trained at 64
    examples: int | None = None
    train_seconds: float | None = None
    examples_per_second: float | None = None
    loss_history: list[float] = Field(default_factory=list)
    device: str = "cpu"
    created: str = ""
    versions: dict[str, str] = Field(default_factory=dict)
    base_model: str | None = None
    init_from: str | None = None
    parent_version: str | None = None
    data: DataLineage = Field(default_factory=DataLineage)

    @property
    def feedback_hashes(self) -> set[str]:
        return {f.sha256 for f in self.data.feedback_files}


# -- metrics.json ------------------------------------------------------------------------------
class ClassScores(_Record):
    precision: float
    recall: float
    f1: float
    support: int


class EvalReport(_Record):
    """`evaluation.metrics.classification_report` on one split."""

    n: int
    accuracy: float
    macro_f1: float
    macro_recall: float | None = None  # versions before three-way labels lack it
    roc_auc: float | None = None
    ece: float | None = None
    per_class: dict[str, ClassScores] = Field(default_factory=dict)
    confusion_matrix: list[list[int]] = Field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        return {
            "n": self.n,
            "accuracy": self.accuracy,
            "macro_f1": self.macro_f1,
            "macro_recall": self.macro_recall,
            "roc_auc": self.roc_auc,
            "ece": self.ece,
        }


class Parity(_Record):
    max_abs_logit_diff_fp32_onnx_vs_torch: float | None = None
    int8_fp32_agreement: float | None = None
    fp32_validation_accuracy: float | None = None
    int8_validation_accuracy: float | None = None
    int8_minus_fp32_accuracy: float | None = None


class EngineAccuracy(_Record):
    validation_accuracy: float | None = None
    agreement_with_fp32: float | None = None
    # Paired with fp32 on the same validation rows (what `auto`'s exclusion test reads): rows only
    # this engine gets right, rows only fp32 gets right, the exact McNemar p-value on them.
    n: int | None = None
    only_engine_right: int | None = None
    only_fp32_right: int | None = None
    mcnemar_p: float | None = None


class Calibration(_Record):
    method: str = ""
    temperature: float
    ece_before: float | None = None
    ece_after: float | None = None


class Metrics(_Record):
    validation: EvalReport | None = None
    holdout: EvalReport | None = None
    newest: EvalReport | None = None  # retrained versions: the newest feedback the gate held back
    parity: Parity = Field(default_factory=Parity)
    backends: dict[str, EngineAccuracy] = Field(default_factory=dict)
    calibration: Calibration | None = None  # releases before calibration: none (no estimate)

    @model_validator(mode="before")
    @classmethod
    def _migrate(cls, data: Any) -> Any:
        """Releases before per-engine accuracy recorded ONNX Runtime's two in `parity` only."""
        if isinstance(data, dict) and not data.get("backends") and data.get("parity"):
            parity = data["parity"]
            data = {
                **data,
                "backends": {
                    "ort-fp32": {
                        "validation_accuracy": parity.get("fp32_validation_accuracy"),
                        "agreement_with_fp32": 1.0,
                    },
                    "ort-int8": {
                        "validation_accuracy": parity.get("int8_validation_accuracy"),
                        "agreement_with_fp32": parity.get("int8_fp32_agreement"),
                    },
                },
            }
        return data

    def report(self, split: str) -> EvalReport | None:
        found = getattr(self, split, None)
        return found if isinstance(found, EvalReport) else None

    @property
    def temperature(self) -> float | None:
        return self.calibration.temperature if self.calibration else None


# -- reference.json (and the production baseline, which stores the same profile) --------------
class Histogram(TypedDict):
    edges: list[float]
    counts: list[int]


class ReferenceMetrics(_Record):
    """The summary a reference profile carries: what drift checks compare labels and estimates with."""

    validation: dict[str, Any] = Field(default_factory=dict)
    holdout: dict[str, Any] = Field(default_factory=dict)
    calibration: dict[str, Any] = Field(default_factory=dict)


class Profile(BaseModel):
    """What a set of predictions looked like (a validation split or scored days)."""

    model_config = ConfigDict(extra="ignore")

    n: int
    labels: list[str]
    class_counts: dict[str, int]
    class_shares: dict[str, float]
    mean_confidence: float
    low_confidence_share: float
    mean_tokens: float
    unknown_token_share: float
    empty_or_link_only_share: float
    confidence_histogram: Histogram
    token_length_histogram: Histogram
    confidence_sample: list[float]
    token_length_sample: list[int]
    # The version's summary metrics; only a model's reference profile carries them.
    metrics: ReferenceMetrics | None = None

    def as_dict(self) -> dict[str, Any]:
        data = self.model_dump()
        if self.metrics is None:
            del data["metrics"]  # a baseline's profile has none
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Profile:
        return cls.model_validate(data)

    @property
    def holdout(self) -> dict[str, Any]:
        return self.metrics.holdout if self.metrics else {}

    @property
    def temperature(self) -> float | None:
        return self.metrics.calibration.get("temperature") if self.metrics else None


# -- CHECKSUMS ---------------------------------------------------------------------------------
class Checksums(BaseModel):
    """sha256 per relative path, stored as `sha256sum` lines (`sha256sum -c CHECKSUMS` checks it)."""

    files: dict[str, str]

    @classmethod
    def of(cls, folder: Path) -> Checksums:
        found = sorted(p for p in folder.rglob("*") if p.is_file() and p.name != CHECKSUMS_FILE)
        return cls(files={p.relative_to(folder).as_posix(): sha256_file(p) for p in found})

    @classmethod
    def parse(cls, text: str) -> Checksums:
        files = {}
        for line in text.splitlines():
            digest, _, name = line.partition("  ")
            if name:
                files[name] = digest
        return cls(files=files)

    def text(self) -> str:
        return "\n".join(f"{digest}  {name}" for name, digest in self.files.items()) + "\n"


# -- the folder ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class VersionFolder:
    path: Path

    def _read(self, name: str) -> dict[str, Any] | None:
        file = self.path / name
        return json.loads(file.read_text()) if file.is_file() else None

    def _write(self, name: str, model: BaseModel | dict[str, Any], indent: int | None = 2) -> None:
        # Only the fields that were set: the file says what its writer knew, as before these models.
        data = model.model_dump(mode="json", exclude_unset=True) if isinstance(model, BaseModel) else model
        (self.path / name).write_text(json.dumps(data, indent=indent))

    # readers: a missing file reads as its empty model (versions of the first release lack some)
    def labels(self) -> LabelMap:
        return LabelMap.model_validate(self._read(LABELS_FILE) or {})

    def training(self) -> TrainingRecord:
        return TrainingRecord.model_validate(self._read(TRAINING_FILE) or {})

    def metrics(self) -> Metrics:
        return Metrics.model_validate(self._read(METRICS_FILE) or {})

    def reference(self) -> Profile | None:
        data = self._read(REFERENCE_FILE)
        return Profile.from_dict(data) if data else None

    def calibration_texts(self) -> list[str]:
        data = self._read(CALIBRATION_FILE)
        return list(data.get("texts", [])) if data else []

    def card(self) -> dict[str, Any] | None:
        return self._read(CARD_FILE)

    # writers (packaging only; a published version is immutable)
    def write_labels(self, labels: LabelMap) -> None:
        self._write(LABELS_FILE, labels)

    def write_training(self, record: TrainingRecord) -> None:
        self._write(TRAINING_FILE, record)

    def write_metrics(self, metrics: Metrics) -> None:
        self._write(METRICS_FILE, metrics)

    def write_reference(self, profile: Profile) -> None:
        self._write(REFERENCE_FILE, profile.as_dict(), indent=None)

    def write_calibration_texts(self, texts: list[str]) -> None:
        self._write(CALIBRATION_FILE, {"texts": texts}, indent=None)

    def write_card(self, card: dict[str, Any]) -> None:
        self._write(CARD_FILE, card)

    # checksums
    def write_checksums(self) -> None:
        (self.path / CHECKSUMS_FILE).write_text(Checksums.of(self.path).text())

    def verify(self) -> None:
        listing = self.path / CHECKSUMS_FILE
        if not listing.is_file():
            raise ChecksumError(f"{self.path}: no {CHECKSUMS_FILE} file; refusing to load an unverifiable model")
        expected = Checksums.parse(listing.read_text()).files
        present = {p.relative_to(self.path).as_posix() for p in self.path.rglob("*") if p.is_file()}
        missing = sorted(set(expected) - (present - {CHECKSUMS_FILE}))
        if missing:
            raise ChecksumError(f"{self.path}: missing files {missing}")
        for name, digest in expected.items():
            if sha256_file(self.path / name) != digest:
                raise ChecksumError(f"{self.path}: checksum mismatch for {name}; the file was changed or corrupted")
