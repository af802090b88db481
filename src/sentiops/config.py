"""One settings object for every command, read from the environment (prefix ``SENTIOPS_``).

All state lives under one root, ``SENTIOPS_HOME`` (default ``./var``); on Kubernetes that
root is the mounted volume. ``data``, ``registry`` and ``results`` sit beneath it and can
each be moved on their own.
"""

from __future__ import annotations

import socket
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from sentiops import logs

# Inference engines (sentiops/engines.py says what each is and when it wins).
Backend = Literal["ort-fp32", "ort-int8", "openvino-fp32", "openvino-bf16", "openvino-int8"]
# Token length models are trained and served at unless told otherwise (`sentiops train --max-length`);
# versions record their own, and the ones of releases that did not are read as this.
DEFAULT_MAX_LENGTH = 64
# `sentiops train`'s rows. `make bench-accuracy` chose it on the validation split: 24,000 emoticon-
# labelled tweets beat 8,000 (+2.1 points validation, +2.3 holdout, +1.6 on people's labels) and
# the teacher's labels of the same 24,000 (distillation: `--distill`), in about 9 minutes on 2 cores.
DEFAULT_TRAIN_EXAMPLES = 24000
TEACHER_LABELS_FILE = "labels.parquet"
BackendSetting = Literal["auto", "ort-fp32", "ort-int8", "openvino-fp32", "openvino-bf16", "openvino-int8"]


class Thresholds(BaseModel):
    """Defaults and why (override with SENTIOPS_DRIFT__<NAME>, for example SENTIOPS_DRIFT__P_VALUE=0.001)."""

    # Significance for each check's tests, after Holm's correction over all the tests of a day:
    # the share of same-distribution days that raise anything stays near 1%.
    p_value: float = 0.01
    # PSI 0.1 / 0.25: the common credit-risk rule of thumb ("some shift" / "major shift").
    psi_warning: float = 0.1
    psi_drift: float = 0.25
    # JS distance (base 2): 0.05 is about a 5-point move in a 50/50 class split.
    js_warning: float = 0.05
    js_drift: float = 0.1
    # Alert when one class takes more than this share of a batch's predictions.
    majority_share_max: float = 0.75
    # Confidence: mean moves by 0.05 / 0.1; KS statistic 0.1 / 0.2 (a tenth / a fifth of mass moved).
    mean_confidence_warning: float = 0.05
    mean_confidence_drift: float = 0.1
    ks_warning: float = 0.1
    ks_drift: float = 0.2
    # Share of predictions with confidence < 0.6 rising by 10 / 20 points.
    low_confidence_warning: float = 0.1
    low_confidence_drift: float = 0.2
    # Unknown-token share rising by 2 / 5 points (the vocabulary no longer covers the text).
    unknown_warning: float = 0.02
    unknown_drift: float = 0.05
    # Empty or link/mention-only texts rising by 5 / 10 points (bots, spam, a broken feed).
    link_only_warning: float = 0.05
    link_only_drift: float = 0.1
    # Labelled batches: accuracy or macro-F1 below the holdout by 3 / 6 points.
    performance_warning: float = 0.03
    performance_drift: float = 0.06
    # Below these sizes a check says "too_few" instead of guessing: class shares and confidence
    # need 100 rows, token-length histograms 200, a performance check 200 labelled rows.
    min_rows_prediction: int = 100
    min_rows_input: int = 200
    min_rows_performance: int = 200
    # Realized accuracy is graded on randomly picked labels only; 100 of them put a 95% interval
    # about +-8 points wide around 80%: enough to see a 6-point drop, not a 3-point one.
    min_rows_realized: int = 100


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="SENTIOPS_", env_nested_delimiter="__", extra="ignore", populate_by_name=True
    )

    home: Path = Path("var")
    data_dir: Path | None = None
    registry_dir: Path | None = None
    results_dir: Path | None = None
    # The distillation teacher and its labels (training/distill.py), for `sentiops train --distill`.
    teacher_dir: Path | None = None

    # Inference
    # auto: time the engines this machine and version allow, keep the fastest accurate one
    backend: BackendSetting = "auto"
    intra_op_threads: int = 0  # 0: the container's CPU quota (cgroup), else the cores this process may use
    inference_batch_size: int = 64
    max_length: int = DEFAULT_MAX_LENGTH  # `sentiops train`'s default; a version serves at the length it trained at

    # Serving
    max_text_chars: int = 1000
    max_batch_texts: int = 256
    # The classes /predict answers with when a request names no `view`: `model` (the version's
    # own: neutral once it is three-class), `binary` (neutral folded out, for clients that know
    # two classes) or `three-class` (a binary version then answers 422). docs/serving.md.
    predict_view: Literal["model", "binary", "three-class"] = "model"
    max_body_bytes: int = 1_000_000
    oip_model_name: str = "sentiops"  # the model's name in the Open Inference Protocol's /v2/models/{name}
    # From `make bench-serve` on 2 cores: waiting for more requests only added latency (batches
    # fill while the previous one runs); 32 and 64 gave the same throughput at 32 clients.
    microbatch_max_size: int = 32
    microbatch_max_wait_ms: float = 0.0
    # Under load only (after a batch of a quarter of max_size or more), wait up to this for the
    # next batch to fill; a lone caller never waits. Without it 32 clients settled into batches of
    # 16 (two cohorts alternating); with it batches average 32.0 and the service reached 0.69 of
    # the engine's batch-32 rate. Two OpenVINO streams (two batches in flight, one core each) were
    # measured too and lost: 372-450 against 612-636 req/s (docs/engines.md, "Serving").
    microbatch_fill_wait_ms: float = Field(2.0, ge=0, le=50)
    # Overload: refuse (503 + Retry-After) when the expected queue wait passes this, instead of
    # letting every request's latency grow; the hard cap bounds memory.
    max_queue_wait_ms: float = 1000.0
    max_queue_texts: int = 4096
    reload_poll_seconds: float = 10.0
    # Slow or idle clients: at most this many open connections (uvicorn answers 503 beyond it, so
    # memory stays bounded whatever a client does), and an idle keep-alive connection is closed
    # after this many seconds.
    max_connections: int = 512
    keep_alive_seconds: float = 5.0
    # Each role its own credential (serving/access.py): API callers a bearer token; operators their
    # own token; labellers named accounts (`name:<argon2id hash>` lines, `sentiops labellers add`).
    # With none of them set the service is open on the loopback only (`sentiops serve` refuses
    # another address).
    api_token: SecretStr | None = None
    api_token_file: Path | None = None
    admin_token: SecretStr | None = None
    admin_token_file: Path | None = None
    labellers_file: Path | None = None
    # The dashboard's sign-in: a signed session cookie (never the token itself) that expires after
    # this many hours; Secure (sent over HTTPS only) when the API is served behind TLS.
    ui_session_hours: float = 12.0
    ui_cookie_secure: bool = False
    # Failed sign-ins per account and client address before each further one doubles the wait (429).
    ui_login_attempts_per_minute: int = 5
    # /metrics and /model need the token too (Prometheus sends it with `authorization:` in its
    # scrape config); /healthz and /readyz stay open for the kubelet's probes.
    protect_operations: bool = False
    log_texts: bool = False
    # Prediction log (results/predictions/): every answer, for labels that arrive later. The text
    # is kept so people can label it; "hash" keeps only its sha256 (labels then join by id alone).
    prediction_log: bool = True
    prediction_log_text: Literal["text", "hash"] = "text"
    prediction_log_retention_days: int = Field(30, ge=1)  # `sentiops predictions prune`, run daily
    # Flush every 5 s or 1,000 rows: a few files a minute per replica at most; a crash loses at
    # most that. The buffer bounds memory (about 0.5 KB a record) when the disk stalls.
    prediction_log_flush_seconds: float = 5.0
    prediction_log_flush_rows: int = 1000
    prediction_log_buffer_rows: int = 100_000
    # Names this process's log files (with its PID and a random part); Kubernetes sets HOSTNAME
    # to the pod's name.
    pod_name: str = Field(default_factory=lambda: socket.gethostname() or "local", validation_alias="HOSTNAME")
    # Live trials of `staging` (docs/live-trials.md). Shadow: the API loads staging beside production
    # and scores this share of requests with it after the caller's answer, on a thread of its own,
    # starting only once the micro-batcher has had no request for `shadow_idle_ms`; at most
    # `shadow_queue_texts` wait (shed beyond, counted), scored `shadow_batch_size` at a time, so a
    # request arriving mid-chunk shares the cores with one small chunk (docs/live-trials.md).
    shadow_share: float = Field(1.0, ge=0, le=1)
    shadow_queue_texts: int = Field(256, ge=1)
    shadow_batch_size: int = Field(2, ge=1)
    shadow_idle_ms: float = Field(2.0, ge=0)
    staging_threads: int = Field(0, ge=0)  # 0: as production (1 was measured: no better, docs)
    # Canary: this share of callers (sticky: a hash of the X-Caller-Key header, else of the request
    # id) is answered by staging. Staging slower than the timeout, or failing, is answered by
    # production instead and counted against staging.
    canary_share: float = Field(0.0, ge=0, le=1)
    canary_timeout_ms: float = Field(1000.0, gt=0)
    # The canary's guard, over staging's last `canary_guard_window` calls once `canary_guard_min_n`
    # were seen: it stops the canary (alert + a line in results/live/canary_stops.jsonl) when
    # - errors + timeouts pass 2% (one call in fifty failing is an incident, not noise);
    # - staging's p99 passes twice production's in the same window (a ratio: CPUs differ up to 2x)
    #   and by more than 50 ms (a few ms on a fast model are a GC pause or a log flush: noise);
    # - agreement with production on shadow pairs falls below 0.7 (two sound models of this task
    #   agree on 80-90% of tweets; 0.7 is a model that is broken or answers another question).
    canary_guard_window: int = Field(500, ge=10)
    canary_guard_min_n: int = Field(50, ge=1)
    canary_max_error_ratio: float = Field(0.02, ge=0, le=1)
    canary_max_p99_ratio: float = Field(2.0, gt=1)
    canary_min_p99_excess_ms: float = Field(50.0, ge=0)
    canary_min_agreement: float = Field(0.7, ge=0, le=1)
    # `models promote staging --if-live`: after a day and 1,000 shadow pairs, staging must agree with
    # production on >= 0.7 of them and, once 30 of the pairs have labels, be no more than 1 point
    # less accurate than production on those same predictions.
    live_min_hours: float = Field(24.0, ge=0)
    live_min_pairs: int = Field(1000, ge=1)
    live_min_agreement: float = Field(0.7, ge=0, le=1)
    live_min_labelled: int = Field(30, ge=1)
    live_margin: float = Field(0.01, ge=0)
    log_json: bool = False  # `sentiops serve` always logs JSON; other commands when this is set
    log_level: str = Field("INFO", pattern="^(DEBUG|INFO|WARNING|ERROR)$")

    # Batch scoring
    batch_chunk_rows: int = 4096
    batch_max_reject_share: float = 0.05
    batch_max_text_chars: int = 1000
    # The day's input when `batch run` is given neither --input nor --simulate (the daily CronJob):
    # a file, folder or glob with {date} standing for the partition date, e.g. /data/input/date={date}.
    batch_input: str | None = None
    # Indexed Job: pod I of N scores shard I/N. Kubernetes sets JOB_COMPLETION_INDEX in each pod;
    # the manifest sets SENTIOPS_SHARD_COUNT to the Job's completions.
    shard_count: int = Field(1, ge=1)
    job_completion_index: int | None = Field(None, validation_alias="JOB_COMPLETION_INDEX")

    # Labelling queue (data/queue/): the daily CronJob adds `label_queue_size` tweets of the scored
    # date; a random share keeps realized accuracy unbiased, a share goes to days whose drift checks
    # fired, the rest to the most uncertain. A Label page lease frees its item after 10 minutes.
    label_queue_size: int = Field(200, ge=0)
    label_random_share: float = Field(0.3, ge=0, le=1)
    label_drift_share: float = Field(0.2, ge=0, le=1)
    label_lease_seconds: float = Field(600.0, gt=0)
    # Labellers check each other (data/agreement.py): this share of queued items goes to a second
    # labeller (a third where the two disagree). A labeller's Cohen's kappa against the others is
    # judged from `label_min_overlaps` shared items on (fewer say little: at 30 its standard error
    # is about 0.15); under `label_min_kappa` their labels stop counting as trusted until an
    # operator reinstates them. 0.6 is the usual floor of "substantial" agreement: careful people
    # on two-way tweet sentiment reach 0.7-0.9, a labeller flipping 30% of answers about 0.4.
    label_overlap_share: float = Field(0.1, ge=0, le=1)
    label_min_overlaps: int = Field(30, ge=1)
    label_min_kappa: float = Field(0.6, ge=-1, le=1)

    # Alerts (URL from env or a mounted secret file; never logged)
    slack_webhook_url: SecretStr | None = None
    slack_webhook_url_file: Path | None = None
    alert_webhook_url: SecretStr | None = None
    alert_webhook_url_file: Path | None = None
    alert_repeat_hours: float = 24.0
    alert_timeout_seconds: float = 5.0
    alert_retries: int = 3

    # Drift thresholds, e.g. SENTIOPS_DRIFT__P_VALUE=0.001 (defaults and reasons in Thresholds above)
    drift: Thresholds = Field(default_factory=Thresholds)

    # Retraining
    retrain_replay_share: float = 0.5  # share of original training rows mixed in (against forgetting)
    # The gate compares champion and challenger on the same held-out rows (holdout + newest
    # feedback). Promote only if the paired interval of the accuracy difference stays above
    # -margin (not worse by more than 0.5 points, with `retrain_confidence`) and the point
    # estimate is above min_gain: a challenger that differs by training noise is not promoted.
    retrain_margin: float = 0.005
    retrain_min_gain: float = 0.0
    retrain_confidence: float = 0.95
    retrain_bootstrap_resamples: int = 2000
    # Behavioural checks: the challenger's rate may trail the champion's own by at most this.
    retrain_behaviour_tolerance: float = 0.05
    retrain_min_agreement: float = 0.8  # agreement with the champion on holdout (lower = suspicious)
    # People's labels (Label page, imports marked --trusted) are the gate's main evidence: this
    # share of them (chosen by a hash of the text, so a smaller share is a subset of a larger one)
    # is held back from training as the trusted evaluation set.
    retrain_trusted_share: float = Field(0.25, gt=0, lt=1)
    # While people's labels are few the share alone holds back too few to decide anything (25 of
    # 100): the share is raised until at least this many are held back, never past half of them.
    # As labels arrive it falls back to `retrain_trusted_share` and the early texts train.
    retrain_trusted_eval_floor: int = Field(60, ge=0)
    # From this many trusted held-back labels on, they decide; the interval's width does the rest
    # (with few labels it is wide, so only a large gain passes: `make bench-labels`, +13 points on
    # 60 labels clears it). Under 30 the percentile bootstrap itself is unreliable (it resamples a
    # handful of discordant rows and comes out too narrow), so the holdout decides as before.
    retrain_min_trusted: int = Field(30, ge=1)
    # When people's labels are among the new rows, at most this many untrusted labels (API callers'
    # or the emoticon-labelled pool) per trusted one train beside them: every trusted label trains,
    # the others fill up to this. Unbounded, 1,800 emoticon rows drowned 190 people's labels
    # (+6 points on tweeteval where the same labels alone gave +13).
    retrain_untrusted_per_trusted: float = Field(1.0, ge=0)
    # With trusted evidence, the distant-label holdout guards against gross regressions only: its
    # emoticon labels disagree with people on many tweets, and a model that learns people's labels
    # moves away from them by a few points by design (`make bench-labels`: -2.8 points for +15.4
    # on people's labels at 1,000 labels); the challenger's holdout accuracy may fall by at most
    # 4 points (a point difference; flipped labels cost far more).
    retrain_holdout_guard_margin: float = Field(0.04, ge=0)
    # Neutral: a model learns it once this many neutral labels would train (people's labels in
    # `retrain`, the split's rows in `train`); until then neutral labels are stored and wait.
    # A class learned from a few dozen rows would be a guess (`make bench-neutral`).
    neutral_min_labels: int = Field(100, ge=1)
    # A three-class challenger against a binary champion: on the trusted negative/positive rows,
    # read in the two-class view, neither class's recall may fall by more than this (learning
    # neutral must not cost the polarity the champion had).
    retrain_class_recall_margin: float = Field(0.05, ge=0)
    # The retrain that adds a class trains at least this many epochs: the class is learned from
    # people's labels alone, and one pass over a few hundred of them is a few dozen optimizer
    # steps (`make bench-neutral`: one epoch on 500 labels left neutral recall at 0). Three is
    # the usual fine-tuning recipe for a small labelled set (BERT's paper used 2-4).
    retrain_new_class_epochs: float = Field(3.0, gt=0)
    keep_versions: int = 5

    @model_validator(mode="after")
    def _derive_dirs(self) -> Settings:
        if self.data_dir is None:
            self.data_dir = self.home / "data"
        if self.registry_dir is None:
            self.registry_dir = self.home / "registry"
        if self.results_dir is None:
            self.results_dir = self.home / "results"
        if self.teacher_dir is None:
            self.teacher_dir = self.home / "teacher"
        return self

    # Typed accessors so callers need not re-check for None.
    @property
    def data(self) -> Path:
        assert self.data_dir is not None
        return self.data_dir

    @property
    def registry(self) -> Path:
        assert self.registry_dir is not None
        return self.registry_dir

    @property
    def results(self) -> Path:
        assert self.results_dir is not None
        return self.results_dir

    @property
    def teacher(self) -> Path:
        assert self.teacher_dir is not None
        return self.teacher_dir


def read_secret(value: SecretStr | None, file: Path | None) -> str | None:
    """A secret from its env value or, failing that, from a mounted file (Kubernetes Secret).

    Every secret read here is registered for redaction from all log lines (sentiops.logs).
    """
    secret = None
    if value is not None and value.get_secret_value().strip():
        secret = value.get_secret_value().strip()
    elif file is not None and file.is_file():
        secret = file.read_text(encoding="utf-8-sig").strip() or None
    if secret:
        logs.register_secret(secret)
    return secret


@lru_cache
def get_settings() -> Settings:
    return Settings()
