"""bridge/cli/commands.py: the subcommands that list, show and build (presets, models, data)."""

import json

import pytest
from conftest import run_cli


def test_presets_and_models_commands():
    proc = run_cli("presets", "list")
    assert proc.returncode == 0 and "bisig-exp1" in proc.stdout and "default" in proc.stdout
    proc = run_cli("presets", "show", "bisig-exp2")
    assert proc.returncode == 0 and "learning_rate = 0.04" in proc.stdout
    proc = run_cli("models", "list")
    assert proc.returncode == 0 and "(default)" in proc.stdout and "model2" in proc.stdout
    proc = run_cli("models", "show", "default")
    card = json.loads(proc.stdout)
    assert card["architecture"]["arch"] == "model2" and len(card["class_names"]) == 128


@pytest.mark.parametrize("kind", ["events", "speech", "instruments", "stems"])
def test_cli_data_refuses_a_file_as_the_set_folder(tmp_path, kind):
    target = tmp_path / "not-a-folder.wav"
    target.write_bytes(b"RIFF")
    result = run_cli("data", kind, target)
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert "is a file" in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert target.read_bytes() == b"RIFF"
