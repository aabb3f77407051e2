"""Dream-step graphs shipped beside a model's weights, so ``--backend onnx`` never imports torch.

A model directory may hold ``graphs/``: one dream-step graph per depth the onnx backend
builds (layers ``0..d`` for every ``d`` below the last, the full network with its head,
each with and without the Ardila terms: the same graphs the onnx backend would export in
memory) and one ``weights.bin`` that every graph reads its large tensors from (ONNX
external data; a layer's tensors are stored once for all the depths that use it), plus
``index.json`` with the model facts the engine needs (rate, layer channels and strides,
class names) and the sha256 of every file. Loading checks the sha256 of the files it opens
(hashlib only: no torch, no onnx); building verifies every graph with
:func:`export.integrity.verify_graph` and against the in-memory export, bit for bit.

Build (torch, from the shipped weights)::

    python -m dreambridge.export.shipped default            # or model names / directories
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from pathlib import Path

from dreambridge.presets.errors import ModelLoadError
from dreambridge.presets.fileutil import sha256_file

__all__ = ["GRAPHS_DIR", "INDEX_NAME", "WEIGHTS_FILE", "graph_key", "ShippedGraphs", "build_shipped_graphs",
           "main"]

GRAPHS_DIR = "graphs"
INDEX_NAME = "index.json"
WEIGHTS_FILE = "weights.bin"
EXTERNAL_MIN_BYTES = 4096  # tensors from this size on live in weights.bin (shapes and scalars stay inline)
ALIGN = 64  # byte alignment of each tensor in weights.bin


def graph_key(depth: int | None, ardila: bool) -> str:
    """The index key of the graph of layers ``0..depth`` (``None``: the full network with its head)."""
    return f"{'full' if depth is None else int(depth)}{'-ardila' if ardila else ''}"


class ShippedGraphs:
    """The shipped dream-step graphs of one model directory (see the module docstring).

    Use :meth:`find` to get one (``None`` when the model ships none); ``meta`` holds the
    model facts (``sample_rate``, ``layer_channels``, ``layer_strides``, ``class_names``,
    ``name``, ``weights_sha256``); :meth:`path` returns a checked graph file. The checks are
    sha256 against ``index.json``; the index itself can only be checked for shape, so a
    deliberate edit of both is not caught (as with a model card and its weights).
    """

    def __init__(self, folder: Path, index: dict):
        self.folder = folder
        self.index = index
        self.meta = index["model"]
        self._checked = set()

    @classmethod
    def find(cls, model_dir) -> "ShippedGraphs | None":
        """The graphs of ``model_dir`` (a folder), or ``None`` when it has no ``graphs/``."""
        folder = Path(model_dir) / GRAPHS_DIR
        index_path = folder / INDEX_NAME
        if not folder.is_dir():
            return None
        try:
            index = json.loads(index_path.read_text())
            if index.get("schema") != 1 or not isinstance(index.get("graphs"), dict):
                raise ValueError("not a schema-1 graph index")
            missing = {"sample_rate", "layer_channels", "layer_strides", "class_names", "name",
                       "weights_sha256"} - set(index["model"])
            if missing:
                raise KeyError(", ".join(sorted(missing)))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ModelLoadError(f"{index_path}: the shipped graph index is missing or corrupt ({exc}); reinstall "
                                 f"dreambridge or rebuild it: python -m dreambridge.export.shipped {model_dir}"
                                 ) from None
        return cls(folder, index)

    def _check(self, name: str) -> Path:
        path = self.folder / name
        if name in self._checked:
            return path
        recorded = self.index["files"].get(name)
        hint = f"reinstall dreambridge or rebuild: python -m dreambridge.export.shipped {self.folder.parent}"
        if recorded is None or not path.is_file():
            raise ModelLoadError(f"{path}: shipped graph file is missing; {hint}")
        actual = sha256_file(path)
        if actual != recorded:
            raise ModelLoadError(f"{path}: sha256 {actual[:12]}... does not match the index's {recorded[:12]}...; "
                                 f"the file was changed or corrupted, {hint}")
        self._checked.add(name)
        return path

    def check_weights(self) -> None:
        """Check ``weights.bin`` against the index (once per process; every graph reads it).

        Raises
        ------
        ModelLoadError
            When it is missing or its sha256 differs from the index.
        """
        self._check(WEIGHTS_FILE)

    def path(self, depth: int | None, ardila: bool) -> str:
        """The checked graph file of layers ``0..depth`` (``None``: full), with or without Ardila
        terms; its weights file is checked too (once per process).

        Raises
        ------
        ModelLoadError
            When the graph or its weights are missing, or their sha256 differs from the index.
        """
        key = graph_key(depth, ardila)
        name = self.index["graphs"].get(key)
        if name is None:
            raise ModelLoadError(f"{self.folder}: no shipped graph {key!r} (the index has "
                                 f"{', '.join(sorted(self.index['graphs']))}); rebuild: "
                                 f"python -m dreambridge.export.shipped {self.folder.parent}")
        self._check(WEIGHTS_FILE)
        return str(self._check(name))


def _externalise(proto, blob: bytearray, stored: dict) -> None:
    """Move every tensor of ``proto`` of at least ``EXTERNAL_MIN_BYTES`` into ``blob`` (once per
    distinct content: ``stored`` maps sha256 -> offset), as ONNX external data in ``WEIGHTS_FILE``."""
    from onnx.external_data_helper import _get_all_tensors, set_external_data

    for tensor in _get_all_tensors(proto):
        if not tensor.HasField("raw_data") or len(tensor.raw_data) < EXTERNAL_MIN_BYTES:
            continue
        data = bytes(tensor.raw_data)
        digest = hashlib.sha256(data).hexdigest()
        if digest not in stored:
            blob.extend(b"\0" * (-len(blob) % ALIGN))
            stored[digest] = len(blob)
            blob.extend(data)
        set_external_data(tensor, WEIGHTS_FILE, offset=stored[digest], length=len(data))
        tensor.ClearField("raw_data")


def _gradient_check(model, session_bytes: bytes, path: Path, ardila: bool) -> None:
    """The graph file (external weights) gives the in-memory graph's gradient and loss, bit for bit."""
    import numpy as np

    from dreambridge.export.onnx_export import _session

    rng = np.random.default_rng(0)
    n_weights = sum(model.layer_channels)
    feed = {"waveform": rng.standard_normal((2, 1, 24255)).astype(np.float32),
            "layer_weights": (rng.random(n_weights) * (rng.random(n_weights) < 0.5)).astype(np.float32),
            "class_weights": np.zeros(model.n_classes, np.float32), "learning_rate": np.zeros(1, np.float32),
            "sparsity": np.array([0.3 * ardila], np.float32), "continuity": np.array([0.2 * ardila], np.float32)}
    outputs = []
    for source in (session_bytes, str(path)):
        session = _session(source)
        names = {i.name for i in session.get_inputs()}
        outputs.append(session.run(["gradient", "loss"], {k: v for k, v in feed.items() if k in names}))
    for a, b in zip(*outputs):
        if not np.array_equal(a, b):
            raise RuntimeError(f"{path}: the shipped graph differs from the in-memory export")


def build_shipped_graphs(model, out_dir=None) -> dict:
    """Write ``graphs/`` into a model directory (``model``: a shipped name or a directory) from
    its weights; return the index. The folder is replaced only once every graph is verified.

    Raises
    ------
    ExportError
        For a model the ONNX graphs do not cover (CREPE).
    """
    import shutil
    import tempfile

    import onnx

    from dreambridge.export.integrity import verify_graph
    from dreambridge.export.onnx_export import _require_raw_audio_net, metadata_for, step_graph_bytes
    from dreambridge.models.zoo import load_model, resolve_model_dir
    from dreambridge.presets.fileutil import atomic_write_bytes

    model_dir = resolve_model_dir(model)
    net, card = load_model(model_dir)
    _require_raw_audio_net(net)
    target = Path(out_dir) if out_dir is not None else model_dir / GRAPHS_DIR
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".graphs-", dir=target.parent))
    staging.chmod(0o755)  # an installed package's folder: readable by every user
    try:
        meta = metadata_for(net, card, "dream_step")
        index = {"schema": 1, "model": {"name": card.get("name", model_dir.name),
                                        "weights_sha256": card["weights_sha256"],
                                        "sample_rate": net.sample_rate, "layer_channels": net.layer_channels,
                                        "layer_strides": json.loads(meta["layer_strides_total"]),
                                        "class_names": card["class_names"]},
                 "graphs": {}, "files": {}}
        blob, stored, protos = bytearray(), {}, {}
        for depth in [*range(net.n_layers - 1), None]:
            for ardila in (False, True):
                data = step_graph_bytes(net, card, depth, ardila, with_update=False)
                proto = onnx.load_from_string(data)
                _externalise(proto, blob, stored)
                protos[graph_key(depth, ardila)] = (data, proto, ardila)
        (staging / WEIGHTS_FILE).write_bytes(bytes(blob))
        for key, (data, proto, ardila) in protos.items():
            name = f"step-{key}.onnx"
            path = staging / name
            path.write_bytes(proto.SerializeToString())
            verify_graph(onnx.load(str(path)), str(path))
            _gradient_check(net, data, path, ardila)
            index["graphs"][key] = name
        for path in sorted(staging.iterdir()):
            index["files"][path.name] = sha256_file(path)
        atomic_write_bytes(staging / INDEX_NAME, (json.dumps(index, indent=1, sort_keys=True) + "\n").encode())
        old = None
        if target.exists():
            old = Path(tempfile.mkdtemp(prefix=".graphs-old-", dir=target.parent))
            os.replace(target, old / "graphs")
        os.replace(staging, target)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return index


def main(argv=None) -> int:
    """``python -m dreambridge.export.shipped [MODEL ...]`` (default: the default model)."""
    from dreambridge.presets.errors import DreamError

    names = (sys.argv[1:] if argv is None else list(argv)) or ["default"]
    for name in names:
        try:
            index = build_shipped_graphs(name)
        except DreamError as exc:
            print(f"dreambridge.export.shipped: error: {exc}", file=sys.stderr)
            return 2
        print(f"{name}: {len(index['graphs'])} dream-step graphs written, every one checked")
    return 0


if __name__ == "__main__":
    sys.exit(main())
