"""Inference engines behind the one Predictor: ONNX Runtime (fp32, dynamic int8) and OpenVINO
(fp32, bf16 where the CPU has it, static int8 made with NNCF), and how a machine picks one.

Which is fastest depends on the CPU: ONNX Runtime's dynamic int8 gains about 1.3x over fp32 on
AVX2 but 1.7x with VNNI; OpenVINO's bf16 and static int8 use AVX-512 BF16/VNNI and AMX. So
`auto` times the eligible engines on the version's own calibration tweets at load time and
keeps the fastest whose validation accuracy (measured when the version was packaged) is within
a tolerance of fp32. OpenVINO is optional (`sentiops[openvino]`); without it the ONNX Runtime
engines serve as before.
"""

from __future__ import annotations

import math
import os
import threading
from pathlib import Path
from typing import Protocol, get_args

import numpy as np

from sentiops.config import Backend

BACKENDS: tuple[Backend, ...] = get_args(Backend)
FILES: dict[Backend, str] = {
    "ort-fp32": "model.onnx",
    "ort-int8": "model.int8.onnx",
    "openvino-fp32": "model.onnx",
    "openvino-bf16": "model.onnx",
    "openvino-int8": "model.ov-int8.xml",
}
REFERENCE: Backend = "ort-fp32"  # the exact export every other engine is measured against


class Engine(Protocol):
    backend: Backend
    inputs: set[str]
    width_step: int  # pad widths to a multiple of this (OpenVINO caches kernels per shape)
    threads: int  # intra-op threads: the container's CPU limit, unless set

    def run(self, feeds: dict[str, np.ndarray]) -> np.ndarray: ...


class OrtEngine:
    width_step = 1

    def __init__(self, path: Path, backend: Backend, threads: int, spinning: bool = True) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        # Idle pool threads spin for work by default: fastest for one session, but a second session
        # in the process (staging beside production) then fights the first for the cores.
        options.add_session_config_entry("session.intra_op.allow_spinning", "1" if spinning else "0")
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.backend, self.threads = backend, threads
        self.inputs = {i.name for i in self.session.get_inputs()}

    def run(self, feeds: dict[str, np.ndarray]) -> np.ndarray:
        (logits,) = self.session.run(None, feeds)
        return np.asarray(logits)


class OpenVinoEngine:
    width_step = 8

    def __init__(self, path: Path, backend: Backend, threads: int) -> None:
        import openvino as ov

        precision = "bf16" if backend == "openvino-bf16" else "f32"  # int8 IR: f32 for what is not int8
        config = {
            "INFERENCE_NUM_THREADS": threads,
            "INFERENCE_PRECISION_HINT": precision,
            "PERFORMANCE_HINT": "LATENCY",
        }
        core = ov.Core()
        compiled = core.compile_model(core.read_model(str(path)), "CPU", config)
        self.request = compiled.create_infer_request()
        # An infer request serves one thread at a time ("Infer Request is busy" otherwise): the
        # micro-batcher's thread and the shadow's can both reach one model during a live trial.
        self._lock = threading.Lock()
        self.backend, self.threads = backend, threads
        self.inputs = {name for port in compiled.inputs for name in port.get_names()}

    def run(self, feeds: dict[str, np.ndarray]) -> np.ndarray:
        with self._lock:
            result = self.request.infer(feeds)
            # A copy: the output tensor belongs to the request, which the next call overwrites.
            return np.array(next(iter(result.values())))


def open_engine(folder: Path, backend: Backend, threads: int = 0, spinning: bool = True) -> Engine:
    """`spinning=False` for a model that shares the process with another (ONNX Runtime's idle
    threads then sleep instead of spinning; OpenVINO's do not spin for long either way)."""
    path = folder / FILES[backend]
    if not path.is_file():
        raise FileNotFoundError(f"{backend} needs {path.name}, which version folder {folder.name} does not have")
    threads = threads or cpu_threads()
    if backend.startswith("openvino"):
        return OpenVinoEngine(path, backend, threads)
    return OrtEngine(path, backend, threads, spinning)


def openvino_available() -> bool:
    try:
        import openvino  # noqa: F401
    except ImportError:
        return False
    return True


def cpu_flags() -> set[str]:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return set()
    line = next((line for line in text.splitlines() if line.startswith("flags")), "")
    return set(line.partition(":")[2].split())


def cpu_signature(threads: int) -> str:
    """What an engine's speed depends on here: the CPU model, the flags the engines use, the threads
    (the key of `auto`'s cached choice; the same version on another CPU is timed again)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        text = ""
    model = next((line.partition(":")[2].strip() for line in text.splitlines() if line.startswith("model name")), "")
    wanted = ("avx2", "avx512f", "avx512_vnni", "avx512_bf16", "amx_tile", "amx_bf16", "amx_int8")
    flags = cpu_flags()
    return f"{model or 'unknown CPU'} [{' '.join(f for f in wanted if f in flags)}] x{threads or cpu_threads()}"


def has_bf16(flags: set[str] | None = None) -> bool:
    flags = cpu_flags() if flags is None else flags
    return bool(flags & {"avx512_bf16", "amx_bf16"})


def cpu_threads(cgroup: Path = Path("/sys/fs/cgroup")) -> int:
    """Cores this process may use: the container's CPU quota (cgroup v2 or v1), else its affinity.

    A pod limited to 1 CPU on a 64-core node must not start 64 threads: they would queue for
    the quota and run slower than one.
    """
    available = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    quota = _cgroup_quota(cgroup)
    return max(1, min(available, math.ceil(quota))) if quota else max(1, available)


def _cgroup_quota(cgroup: Path) -> float | None:
    try:
        text = (cgroup / "cpu.max").read_text().split()  # v2: "max 100000" or "150000 100000"
        if text[0] != "max":
            return int(text[0]) / int(text[1])
        return None
    except (OSError, IndexError, ValueError):
        pass
    try:  # v1
        quota = int((cgroup / "cpu" / "cpu.cfs_quota_us").read_text())
        period = int((cgroup / "cpu" / "cpu.cfs_period_us").read_text())
        return quota / period if quota > 0 else None
    except (OSError, ValueError):
        return None


def eligible(folder: Path, flags: set[str] | None = None) -> list[Backend]:
    """Engines this machine can run for this version folder (an older version gets what it has)."""
    found: list[Backend] = []
    for backend in BACKENDS:
        if not (folder / FILES[backend]).is_file():
            continue
        if backend.startswith("openvino") and not openvino_available():
            continue
        if backend == "openvino-bf16" and not has_bf16(flags):
            continue  # without native bf16 OpenVINO would emulate it: slower, not faster
        found.append(backend)
    return found
