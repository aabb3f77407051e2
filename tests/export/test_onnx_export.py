"""export/onnx_export.py: graphs, metadata, validation, the ``export`` command and its refusals."""

import json

import onnx
import pytest
import torch
from conftest import run_cli

from dreambridge.export.onnx_export import TOLERANCE, export_dream_step
from dreambridge.models.factory import build_model


def test_classifier_graph_outputs_and_metadata(exported, tiny_model):
    out, report, _ = exported
    model, card = tiny_model
    proto = onnx.load(str(out / "cls.onnx"))
    assert [o.name for o in proto.graph.output] == ["log_probs"] + [f"layer{i}" for i in range(8)]
    meta = {p.key: p.value for p in proto.metadata_props}
    assert meta["sample_rate"] == "44100" and json.loads(meta["layer_channels"]) == model.layer_channels
    assert json.loads(meta["layer_stride"]) == [7, 7, 5, 5, 3, 3, 2, 2]
    assert json.loads(meta["class_names"]) == card["class_names"] and meta["weights_sha256"] == card["weights_sha256"]
    assert meta["dreambridge_version"]
    saved = json.loads((out / "cls.validation.json").read_text())
    assert saved["max_relative_error"] <= TOLERANCE and len(saved["checks"]) == 2
    assert {c["n_samples"] for c in saved["checks"]} == {44100, 30011}


def test_dream_step_validated_against_autograd(exported):
    out, _, report = exported
    assert report["max_relative_error"] <= TOLERANCE
    assert {(c["batch"], c["n_samples"]) for c in report["checks"]} == {(1, 44100), (2, 30011), (3, 22050)}
    assert any(c["class_target"] for c in report["checks"]) and any(c["ardila"] for c in report["checks"])


@pytest.mark.parametrize("arch", ["model1", "ardila6"])
def test_other_architectures_export_a_valid_step(tmp_path, arch):
    torch.manual_seed(0)
    model = build_model(arch, 3).eval()
    report = export_dream_step(model, {"name": arch, "class_names": ["a", "b", "c"]}, tmp_path / "s.onnx",
                               shapes=((1, 44100), (2, 30011)))
    assert report["max_relative_error"] <= TOLERANCE


def test_export_cli(tmp_path, tiny_model_dir):
    out = tmp_path / "m.onnx"
    proc = run_cli("export", tiny_model_dir, "-o", out, "--dream-step")
    assert proc.returncode == 0, proc.stderr
    assert out.is_file() and (tmp_path / "m.validation.json").is_file()
    proc = run_cli("export", tiny_model_dir, "-o", out)
    assert proc.returncode != 0 and "already exists" in proc.stderr and "Traceback" not in proc.stderr
    proc = run_cli("dream", "--init", "noise", "--duration", "0.6", "-o", tmp_path / "n.wav", "--backend", "onnx",
                   "--model", out, "--quiet", "--set", "iterations=2")
    assert proc.returncode == 0, proc.stderr


def test_disk_full_export_leaves_no_tmp(full_disk, tiny_model_dir):
    (full_disk / "filler").write_bytes(b"\0" * (1024 * 1024 - 64 * 1024))  # leave 64 KiB: the graph does not fit
    proc = run_cli("export", tiny_model_dir, "-o", full_disk / "m.onnx")
    assert proc.returncode != 0 and "Traceback" not in proc.stderr and "no space left" in proc.stderr
    assert sorted(p.name for p in full_disk.iterdir()) == ["filler"]


def test_cli_export_refuses_crepe_with_one_line(tmp_path):
    out = tmp_path / "crepe.onnx"
    result = run_cli("export", "crepe-tiny", "-o", out)
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert "cannot be exported" in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert not out.exists()
