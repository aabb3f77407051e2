"""The onnxruntime backend and the numpy DSP it runs between iterations (no torch).

``OnnxBackend`` runs an exported dream-step graph (``dreambridge export --dream-step``)
with ``CUDAExecutionProvider`` where onnxruntime-gpu and a GPU are present, else on the
CPU. Given a torch model instead of a file, ``GraphCache`` exports in memory the
shallowest graph the selection needs (layers ``0..deepest``, Ardila terms only when
used), so dreaming layer 2 does not pay for layers 3-7.
"""

from __future__ import annotations

import json
import os
import threading

import numpy as np
import scipy.fft

from dreambridge.bridge.engine.selection import Selection
from dreambridge.dsp.ops import NumpyOps
from dreambridge.presets.errors import ModelLoadError, first_line

__all__ = ["NumpyDSP", "OnnxBackend", "onnx_providers", "read_step_metadata", "set_num_threads",
           "get_num_threads"]


def onnx_providers(device: str = "auto") -> list[str]:
    """Execution providers for ``device`` (auto: CUDA when onnxruntime-gpu sees a GPU)."""
    import onnxruntime as ort

    available = ort.get_available_providers()
    if device in ("auto", "cuda") and "CUDAExecutionProvider" in available:
        return ["CUDAExecutionProvider", "CPUExecutionProvider"]
    if device == "cuda":
        from dreambridge.presets.errors import DeviceError

        raise DeviceError(
            "--device cuda with --backend onnx needs onnxruntime-gpu and a GPU (pip install 'dreambridge[gpu]')"
        )
    return ["CPUExecutionProvider"]


_THREADS = {"intra_op": None}


def set_num_threads(n_threads: int | None) -> None:
    """Threads the onnx backend may use from now on (``None``: every core), as
    ``torch.set_num_threads`` for torch: a Ray worker holding one CPU uses one. On a CPU they
    are the engine's excerpt workers, each session running one intra-op thread per call."""
    _THREADS["intra_op"] = n_threads


def get_num_threads() -> int:
    """Threads the onnx backend may use (see :func:`set_num_threads`)."""
    return _THREADS["intra_op"] or os.cpu_count() or 1


def _session(source, device: str = "auto"):
    import onnxruntime as ort

    providers = onnx_providers(device)
    options = ort.SessionOptions()
    # On a CPU the engine runs get_num_threads() excerpt workers (engine.pool.excerpt_workers), each calling
    # run() with its own excerpt: one intra-op thread per call, as torch's workers (and the same bits at any count).
    options.intra_op_num_threads = 1 if providers[0] == "CPUExecutionProvider" else get_num_threads()
    # Waiting threads sleep instead of spinning, as torch's OpenMP threads do under OMP_WAIT_POLICY=PASSIVE (the
    # engine's default, see pool.calm_openmp): calm beside a busy DAW. Any other policy keeps onnxruntime's spinning.
    if os.environ.get("OMP_WAIT_POLICY", "").upper() == "PASSIVE":
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.log_severity_level = 3
    try:
        return ort.InferenceSession(source, options, providers=providers)
    except Exception as exc:  # onnxruntime raises its own exception types
        if isinstance(exc, ModelLoadError):
            raise
        raise ModelLoadError(
            f"{source if isinstance(source, str) else 'graph'}: not a loadable ONNX graph ({first_line(exc)})"
        ) from None


def _verify_file(path: str) -> None:
    """Refuse a graph file whose weights are not the ones its export recorded (or not finite)."""
    import onnx

    from dreambridge.export.integrity import verify_graph

    from dreambridge.presets.fileutil import check_input_file

    check_input_file(path, "ONNX graph", ModelLoadError)
    try:
        proto = onnx.load(path)
    except Exception as exc:  # onnx raises DecodeError, ValueError, ... for a file that is not a graph
        raise ModelLoadError(f"{path}: not a loadable ONNX graph ({first_line(exc)})") from None
    verify_graph(proto, path)


def read_step_metadata(session) -> dict:
    """Model facts from a dream-step graph's ``metadata_props``."""
    meta = session.get_modelmeta().custom_metadata_map
    if meta.get("dreambridge_kind") != "dream_step":
        raise ModelLoadError(
            "this ONNX file is not a dreambridge dream-step graph; export one with 'dreambridge export MODEL "
            "--dream-step'"
        )
    return {
        "sample_rate": int(meta["sample_rate"]),
        "layer_channels": json.loads(meta["layer_channels"]),
        "layer_strides": json.loads(meta.get("layer_strides_total", meta["layer_stride"])),
        "class_names": json.loads(meta["class_names"]),
        "max_layer": int(meta.get("step_max_layer", len(json.loads(meta["layer_channels"])) - 1)),
        "name": meta.get("model_name", ""),
        "weights_sha256": meta.get("weights_sha256", ""),
    }


class OnnxBackend:
    """Objective and input gradient from onnxruntime.

    ``source`` is a path to a dream-step ``.onnx`` file (torch never imported), or a
    callable ``(max_layer, ardila) -> onnx bytes`` that builds graphs on demand.
    """

    name = "onnx"

    def __init__(self, source, device: str = "auto", n_layers: int | None = None):
        self.device = device
        self._sessions = {}
        self._lock = threading.Lock()
        if callable(source):
            self._build = source
            self.path = None
            self.n_layers = n_layers
        else:
            self._build = None
            self.path = str(source)
            _verify_file(self.path)
            session = _session(self.path, device)
            self.meta = read_step_metadata(session)
            self.n_layers = len(self.meta["layer_channels"])
            self._sessions["file"] = session

    @property
    def providers(self) -> list[str]:
        """Execution providers of the graph file's session, best first (``[]`` for in-memory graphs
        until one is built)."""
        sessions = list(self._sessions.values())
        return sessions[0].get_providers() if sessions else []

    def _session_for(self, selection: Selection):
        if self._build is None:
            return self._sessions["file"]
        ardila = bool(selection.sparsity or selection.continuity)
        depth = None if selection.uses_classes else selection.deepest_layer
        if depth is not None and depth >= self.n_layers - 1:
            depth = None
        key = (depth, ardila)
        with self._lock:  # excerpt workers ask at once: one session per graph
            if key not in self._sessions:
                self._sessions[key] = _session(self._build(depth, ardila), self.device)
            return self._sessions[key]

    def objective_and_grad(self, x: np.ndarray, selection: Selection):
        """``(objective [B], grad [B, 1, N])`` for ``x`` ``[B, 1, N]`` float32."""
        session = self._session_for(selection)
        feed = {
            "waveform": np.ascontiguousarray(x, dtype=np.float32),
            "layer_weights": selection.flat_layer_weights(),
            "class_weights": selection.class_weights.astype(np.float32),
            "learning_rate": np.zeros(1, np.float32),
            "sparsity": np.array([selection.sparsity], np.float32),
            "continuity": np.array([selection.continuity], np.float32),
        }
        names = {i.name for i in session.get_inputs()}
        grad, loss = session.run(["gradient", "loss"], {k: v for k, v in feed.items() if k in names})
        return loss, grad


class NumpyDSP(NumpyOps):
    """The array ops of ``loop.dream_loop`` on numpy arrays: the shared definitions of
    ``dsp.ops`` (the same as ``TorchDSP``'s), plus FFT (scipy.fft, float32) and STFT."""

    def rfft(self, x: np.ndarray) -> np.ndarray:
        return scipy.fft.rfft(x, axis=-1)

    def irfft(self, spectrum: np.ndarray, n: int) -> np.ndarray:
        return scipy.fft.irfft(spectrum, n=n, axis=-1).astype(np.float32, copy=False)

    def matvec(self, v: np.ndarray, table: np.ndarray) -> np.ndarray:
        return v @ table

    def stft(self, x, n_fft, hop_length, win_length):
        from dreambridge.dsp.stft import stft

        return stft(x, n_fft, hop_length, win_length).astype(np.complex64)

    def istft(self, spec, n_fft, hop_length, win_length, length):
        from dreambridge.dsp.stft import istft

        return istft(spec, n_fft, hop_length, win_length, length).astype(np.float32)
