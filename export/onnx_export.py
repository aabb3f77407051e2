"""Export trained models to ONNX for other hosts, with metadata and a validation report.

Route: the legacy TorchScript-based exporter (``dynamo=False``, opset 17) on modules
whose backward pass is written out by hand (``graphs.DreamStepGraph``), so no autograd
op reaches the exporter and batch and length stay dynamic. Every export is validated
against PyTorch before it is renamed into place: the classifier's outputs at two lengths,
the dream step's gradient and loss against ``torch.autograd`` on the original (unfolded)
model at several lengths and batch sizes. A failure leaves no file behind.
"""

from __future__ import annotations

import io
import json
import os
import warnings
from pathlib import Path

import numpy as np
import torch

from dreambridge.models.nets import RawAudioNet
from dreambridge.presets.errors import ExportError
from dreambridge.presets.fileutil import atomic_write_bytes
from dreambridge.presets.version import version

from .graphs import STEP_INPUTS, STEP_OUTPUTS, ClassifierGraph, DreamStepGraph

__all__ = ["OPSET", "TOLERANCE", "export_classifier", "export_dream_step", "step_graph_bytes", "metadata_for"]

OPSET = 17
TOLERANCE = 1e-5  # max relative error accepted against torch (float32 sums in another order give ~1e-6)


def metadata_for(model: RawAudioNet, card: dict, kind: str) -> dict[str, str]:
    """ONNX ``metadata_props``: everything a host needs, as strings (JSON for lists)."""
    arch = model.architecture()
    return {
        "dreambridge_kind": kind,
        "dreambridge_version": version(),
        "architecture": arch["arch"],
        "sample_rate": str(model.sample_rate),
        "layer_names": json.dumps(model.layer_names),
        "layer_channels": json.dumps(model.layer_channels),
        "layer_kernel": json.dumps([layer["kernel"] for layer in arch["layers"]]),
        "layer_stride": json.dumps([layer["stride"] for layer in arch["layers"]]),
        "layer_padding": json.dumps([layer["padding"] for layer in arch["layers"]]),
        "layer_pool": json.dumps([[layer["pool_kernel"], layer["pool_stride"]] for layer in arch["layers"]]),
        "layer_strides_total": json.dumps([layer["stride"] * (layer["pool_stride"] or 1) for layer in arch["layers"]]),
        "class_names": json.dumps(card.get("class_names", [])),
        "weights_sha256": str(card.get("weights_sha256", "")),
        "model_name": str(card.get("name", "")),
        "input_normalisation": "zero-mean, peak-normalised float32 waveform [batch, 1, n_samples] at sample_rate",
        "objective": (
            "sum_l sum_c w[l][c] * mean_t(layer_l[c,t]^2) + sum_k cw[k] * log p_k "
            "- sparsity * mean|layer0| - continuity * mean (layer0[:, t+1] - layer0[:, t])^2"
        ),
    }


def _export(module, args, input_names, output_names, dynamic_axes) -> bytes:
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(module, args, buf, input_names=input_names, output_names=output_names,
                          dynamic_axes=dynamic_axes, opset_version=OPSET, dynamo=False)
    return buf.getvalue()


def _with_metadata(data: bytes, meta: dict[str, str]) -> bytes:
    import onnx

    from .integrity import DIGEST_KEY, weights_digest

    proto = onnx.load_from_string(data)
    del proto.metadata_props[:]
    for key, value in {**meta, DIGEST_KEY: weights_digest(proto)}.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.checker.check_model(proto)
    return proto.SerializeToString()


def _session(data: bytes):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = os.cpu_count() or 1
    options.log_severity_level = 3
    return ort.InferenceSession(data, options, providers=["CPUExecutionProvider"])


def _rel(a, b) -> float:
    return float(np.max(np.abs(np.asarray(a) - np.asarray(b))) / max(float(np.max(np.abs(b))), 1e-30))


def _atomic_write(path: Path, data: bytes, report: dict) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    report_path = path.with_suffix(".validation.json")
    for target, payload in ((path, data), (report_path, (json.dumps(report, indent=2) + "\n").encode())):
        atomic_write_bytes(target, payload)
    return report_path


def _require_raw_audio_net(model) -> None:
    if not isinstance(model, RawAudioNet):
        raise ExportError(f"{getattr(model, 'arch', type(model).__name__)} cannot be exported: the ONNX graphs cover "
                          "model1, model2 and ardila6; dream through it with the torch backend")


def export_classifier(model: RawAudioNet, card: dict, out_path, lengths=(44100, 30011)) -> dict:
    """Write the classifier (log-probabilities + every layer tap) and its validation report."""
    _require_raw_audio_net(model)
    model = model.eval()
    graph = ClassifierGraph(model).eval()
    outputs = ["log_probs"] + model.layer_names
    axes = {"waveform": {0: "batch", 2: "n_samples"}, "log_probs": {0: "batch"}}
    axes.update({name: {0: "batch", 2: f"frames{i}"} for i, name in enumerate(model.layer_names)})
    data = _export(graph, (torch.zeros(1, 1, lengths[0]),), ["waveform"], outputs, axes)
    data = _with_metadata(data, metadata_for(model, card, "classifier"))
    session = _session(data)
    rng = np.random.default_rng(0)
    checks = []
    for batch, n in zip((1, 2), lengths):
        x = rng.standard_normal((batch, 1, n)).astype(np.float32)
        with torch.no_grad():
            taps, log_probs = model.forward_taps(torch.from_numpy(x))
        got = session.run(None, {"waveform": x})
        errors = {"log_probs": _rel(got[0], log_probs.numpy())}
        errors.update({name: _rel(g, t.numpy()) for name, g, t in zip(model.layer_names, got[1:], taps)})
        checks.append(
            {"batch": batch, "n_samples": n, "max_relative_error": max(errors.values()), "per_output": errors}
        )
    report = _report("classifier", checks, card)
    if report["max_relative_error"] > TOLERANCE:
        raise ExportError(
            f"classifier export differs from torch by {report['max_relative_error']:.2e} (> {TOLERANCE:g}); not written"
        )
    report["validation_report"] = str(_atomic_write(Path(out_path), data, report))
    return report


def step_graph_bytes(model: RawAudioNet, card: dict | None = None, max_layer: int | None = None, ardila: bool = True,
                     with_update: bool = True) -> bytes:
    """The dream-step graph as ONNX bytes (not validated; see ``export_dream_step``)."""
    _require_raw_audio_net(model)
    graph = DreamStepGraph(model.eval(), max_layer=max_layer, ardila=ardila, with_update=with_update).eval()
    n_weights = sum(model.layer_channels)
    args = (torch.zeros(1, 1, 44100), torch.full((n_weights,), 1.0 / n_weights), torch.zeros(model.n_classes),
            torch.tensor([0.01]), torch.tensor([0.0]), torch.tensor([0.0]))
    axes = {"waveform": {0: "batch", 2: "n_samples"}, "updated": {0: "batch", 2: "n_samples"},
            "gradient": {0: "batch", 2: "n_samples"}, "loss": {0: "batch"}}
    outputs = STEP_OUTPUTS if with_update else STEP_OUTPUTS[1:]
    data = _export(graph, args, STEP_INPUTS, outputs, {k: v for k, v in axes.items() if k != "updated" or with_update})
    meta = metadata_for(model, card or {}, "dream_step")
    meta["step_inputs"] = json.dumps(STEP_INPUTS)
    meta["step_max_layer"] = str(model.n_layers - 1 if max_layer is None else max_layer)
    return _with_metadata(data, meta)


def _reference_gradient(model, x, layer_w, class_w, sparsity, continuity):
    """torch.autograd on the original (unfolded, eval) model: the ground truth."""
    from dreambridge.models.nets import RawAudioNet  # noqa: F401  (documentation: same model)

    x = torch.from_numpy(x).requires_grad_(True)
    taps, log_probs = model.forward_taps(x)
    objective = (log_probs * torch.from_numpy(class_w)).sum(-1)
    offset = 0
    for tap, c in zip(taps, model.layer_channels):
        w = torch.from_numpy(layer_w[offset : offset + c])
        objective = objective + ((tap * tap).mean(-1) * w).sum(-1)
        offset += c
    objective = objective - sparsity * taps[0].abs().mean((1, 2))
    diff = taps[0][..., 1:] - taps[0][..., :-1]
    objective = objective - continuity * (diff * diff).mean((1, 2))
    (grad,) = torch.autograd.grad(objective.sum(), x)
    return objective.detach().numpy(), grad.numpy()


def export_dream_step(model: RawAudioNet, card: dict, out_path, shapes=((1, 44100), (2, 30011), (3, 22050))) -> dict:
    """Write the one-graph DeepDream step and its validation report (vs torch autograd)."""
    _require_raw_audio_net(model)
    model = model.eval()
    data = step_graph_bytes(model, card)
    session = _session(data)
    rng = np.random.default_rng(0)
    n_weights = sum(model.layer_channels)
    checks = []
    for case, (batch, n) in enumerate(shapes):
        x = rng.standard_normal((batch, 1, n)).astype(np.float32)
        layer_w = (rng.random(n_weights) * (rng.random(n_weights) < 0.3)).astype(np.float32)
        class_w = np.zeros(model.n_classes, dtype=np.float32)
        if case == 1:
            class_w[rng.integers(model.n_classes)] = 1.0
        sparsity, continuity = (0.0, 0.0) if case == 0 else (0.3, 0.2)
        feed = {"waveform": x, "layer_weights": layer_w, "class_weights": class_w,
                "learning_rate": np.array([0.05], np.float32), "sparsity": np.array([sparsity], np.float32),
                "continuity": np.array([continuity], np.float32)}
        updated, grad, loss = session.run(None, feed)
        ref_loss, ref_grad = _reference_gradient(model, x, layer_w, class_w, sparsity, continuity)
        ref_updated = x + 0.05 * ref_grad / np.abs(ref_grad).max(axis=-1, keepdims=True)
        errors = {"gradient": _rel(grad, ref_grad), "loss": _rel(loss, ref_loss), "updated": _rel(updated, ref_updated)}
        checks.append({"batch": batch, "n_samples": n, "class_target": bool(class_w.any()), "ardila": sparsity > 0,
                       "max_relative_error": max(errors.values()), "per_output": errors})
    report = _report("dream_step", checks, card)
    if report["max_relative_error"] > TOLERANCE:
        raise ExportError(
            f"dream-step export differs from torch autograd by {report['max_relative_error']:.2e} (> {TOLERANCE:g}); "
            "not written"
        )
    report["validation_report"] = str(_atomic_write(Path(out_path), data, report))
    return report


def _report(kind, checks, card) -> dict:
    return {
        "kind": kind,
        "model": card.get("name", ""),
        "weights_sha256": card.get("weights_sha256", ""),
        "opset": OPSET,
        "torch": torch.__version__,
        "tolerance": TOLERANCE,
        "max_relative_error": max(c["max_relative_error"] for c in checks),
        "checks": checks,
    }
