import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory):
    """An untrained Model2 (random weights, seeded) saved as a model directory."""
    import torch

    from dreambridge.models.checkpoint import save_checkpoint
    from dreambridge.models.factory import build_model

    torch.manual_seed(0)
    model = build_model("model2", 4)
    directory = tmp_path_factory.mktemp("models") / "tiny"
    save_checkpoint(model.eval(), directory, {"name": "tiny", "class_names": ["a", "b", "c", "d"]})
    return directory


@pytest.fixture(scope="session")
def tiny_model(tiny_model_dir):
    from dreambridge.models.checkpoint import load_checkpoint

    return load_checkpoint(tiny_model_dir)


def run_cli(*args, cwd=None, timeout=600):
    """Run the installed console script; return CompletedProcess (text)."""
    exe = shutil.which("dreambridge")
    cmd = [exe, *map(str, args)] if exe else [sys.executable, "-m", "dreambridge.bridge.cli", *map(str, args)]
    env = dict(os.environ, PYTHONWARNINGS="ignore")
    return subprocess.run(cmd, capture_output=True, text=True, cwd=cwd, timeout=timeout, env=env)


@pytest.fixture(scope="session")
def model_default():
    """The shipped default model (loaded offline, hash checked)."""
    from dreambridge.models.zoo import load_model

    return load_model("default")
