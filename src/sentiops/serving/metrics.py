"""Prometheus metrics for the API, in a registry of the app's own (tests build many apps)."""

from __future__ import annotations

import time

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info, Summary

from sentiops.evaluation.calibration import calibrated_confidence
from sentiops.inference import Prediction

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.0075, 0.01, 0.015, 0.025, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 1, 2.5)


class ServiceMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.started = time.time()
        r = self.registry
        self.requests = Counter(
            "sentiops_http_requests",
            "HTTP requests by route, method and status",
            ["route", "method", "status"],
            registry=r,
        )
        self.latency = Histogram(
            "sentiops_http_request_duration_seconds",
            "Request latency by route",
            ["route"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.batch_size = Histogram(
            "sentiops_microbatch_size",
            "Texts per inference call",
            buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256),
            registry=r,
        )
        self.predictions = Counter("sentiops_predictions", "Predictions by label", ["label"], registry=r)
        self.confidence = Histogram(
            "sentiops_prediction_confidence",
            "Confidence of the predicted class",
            buckets=(0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95, 0.99, 1.0),
            registry=r,
        )
        self.overloaded = Counter(
            "sentiops_overload_rejections", "Requests refused with 503 because the queue was too long", registry=r
        )
        self.queued_texts = Gauge("sentiops_queued_texts", "Texts waiting for inference", registry=r)
        self.model = Info("sentiops_model", "The model version being served", registry=r)
        self.reloads = Counter("sentiops_model_reloads", "Model loads by result", ["result"], registry=r)
        self.estimated_accuracy = Gauge(
            "sentiops_estimated_accuracy",
            "Accuracy estimated without labels: mean calibrated confidence of predictions since the model loaded",
            registry=r,
        )
        self.reference_share = Gauge(
            "sentiops_reference_share",
            "Share of each label in the served version's reference profile (what live shares are compared with)",
            ["label"],
            registry=r,
        )
        self.prediction_log_dropped = Counter(
            "sentiops_prediction_log_dropped",
            "Prediction records not written to the log (buffer full or disk failing); requests were still answered",
            registry=r,
        )
        self.feedback = Counter(
            "sentiops_feedback_labels", "Labels received on /feedback by outcome", ["outcome"], registry=r
        )
        self.label_page = Counter(
            "sentiops_label_page_actions",
            "What labellers did on the Label page: label, skip, undo",
            ["action"],
            registry=r,
        )
        self.realized_accuracy = Gauge(
            "sentiops_realized_accuracy",
            "Accuracy on labelled predictions of the newest checked date with labels (results/drift/history.parquet)",
            registry=r,
        )
        # Live trials of staging (shadow and canary): per model, role and version.
        self.staging_model = Info("sentiops_staging_model", "The staging version loaded beside production", registry=r)
        self.model_predictions = Counter(
            "sentiops_model_predictions",
            "Predictions per model: role (production, canary: answered; shadow: scored beside), version, label",
            ["role", "version", "label"],
            registry=r,
        )
        self.model_confidence = Summary(
            "sentiops_model_confidence", "Confidence per model (sum / count: the mean)", ["role", "version"], registry=r
        )
        self.model_estimated_accuracy = Gauge(
            "sentiops_model_estimated_accuracy",
            "Mean calibrated confidence per version since this process loaded it (all roles)",
            ["version"],
            registry=r,
        )
        self.shadow_pairs = Counter(
            "sentiops_shadow_pairs",
            "Shadow answers by the version that scored them, the version that answered, and agreement",
            ["shadow", "answered", "agreed"],
            registry=r,
        )
        self.shadow_agreement = Gauge(
            "sentiops_shadow_agreement",
            "Share of a shadow version's answers equal to the answers they shadowed, since it loaded here",
            ["shadow", "answered"],
            registry=r,
        )
        self.shadow_shed = Counter(
            "sentiops_shadow_shed", "Texts not shadow-scored because the shadow queue was full (load)", registry=r
        )
        self.shadow_errors = Counter("sentiops_shadow_errors", "Texts whose shadow scoring failed", registry=r)
        self.canary_requests = Counter(
            "sentiops_canary_requests",
            "Requests routed to the canary (staging) by outcome: ok, error, timeout (production answered)",
            ["version", "outcome"],
            registry=r,
        )
        self.canary_active = Gauge("sentiops_canary_active", "1 while staging answers a canary share", registry=r)
        self.canary_stops = Counter("sentiops_canary_stops", "Canaries stopped by the guard", ["version"], registry=r)
        self.served: str | None = None  # the version production serves
        self._calibrated_sum = 0.0  # the served version's estimate since it loaded
        self._calibrated_n = 0
        self._temperatures: dict[str, float | None] = {}  # each loaded version's calibration; None: no estimate
        self._per_version: dict[str, list[float]] = {}  # version -> [calibrated sum, n]
        self._pairs: dict[tuple[str, str], list[int]] = {}  # (shadow, answered) -> [agreed, n]

    def model_loaded(
        self, version: str, backend: str, temperature: float | None, reference_shares: dict[str, float]
    ) -> None:
        self.model.info({"version": version, "backend": backend})
        for label, share in reference_shares.items():
            self.reference_share.labels(label).set(share)
        self._calibrated_sum, self._calibrated_n, self.served = 0.0, 0, version
        self.version_loaded(version, temperature)

    @property
    def calibrated(self) -> bool:
        """The served version has a calibration, so its accuracy can be estimated without labels."""
        return bool(self._temperatures.get(self.served or ""))

    def version_loaded(self, version: str, temperature: float | None) -> None:
        self._temperatures[version] = temperature
        self._per_version[version] = [0.0, 0]

    def staging_loaded(self, version: str | None, backend: str, temperature: float | None) -> None:
        self.staging_model.info({"version": version or "", "backend": backend})
        if version is not None:
            self.version_loaded(version, temperature)

    def observe(self, role: str, version: str, predictions: list[Prediction]) -> None:
        """Answers (or shadow opinions) of one model. Every role counts per model and version; the
        served version's own series (`sentiops_predictions`, the confidence histogram, estimated
        accuracy since load) count production's answers only. One calibration serves both."""
        served = role == "production"
        for p in predictions:
            self.model_predictions.labels(role, version, p.label).inc()
            self.model_confidence.labels(role, version).observe(p.confidence)
            if served:
                self.predictions.labels(p.label).inc()
                self.confidence.observe(p.confidence)
        temperature = self._temperatures.get(version)
        if not temperature or not predictions:
            return
        calibrated = sum(calibrated_confidence(p.scores.values(), temperature) for p in predictions)
        found = self._per_version.setdefault(version, [0.0, 0])
        found[0] += calibrated
        found[1] += len(predictions)
        self.model_estimated_accuracy.labels(version).set(found[0] / found[1])
        if served:
            self._calibrated_sum += calibrated
            self._calibrated_n += len(predictions)
            self.estimated_accuracy.set(self._calibrated_sum / self._calibrated_n)

    def observe_pair(self, shadow: str, answered: str, agreed: bool) -> None:
        self.shadow_pairs.labels(shadow, answered, str(agreed).lower()).inc()
        counts = self._pairs.setdefault((shadow, answered), [0, 0])
        counts[0] += agreed
        counts[1] += 1
        self.shadow_agreement.labels(shadow, answered).set(counts[0] / counts[1])
