"""Training loop for the raw-audio classifiers (Bisig & Wegner, section 3.3).

1 s windows at the model rate (other rates resampled), zero mean, peak-normalised;
80/20 split (the dataset's ``split.json`` where it has one, else seeded and stratified
by class, whole files on one side); Adam 1e-3 with step decay x0.1; NLL loss; batch 128.
A resumable state (``train_state.pt``, loaded with ``weights_only=True``) is written
after every epoch; the final weights and card go to the model directory.
"""

from __future__ import annotations

import math
import os
import time
from pathlib import Path

import numpy as np
import soundfile as sf
import torch
from torch.nn import functional as F

from dreambridge.dsp.normalize import peak_normalize
from dreambridge.dsp.resample import resample
from dreambridge.presets.errors import DreamError
from dreambridge.presets.fileutil import atomic_path

from .checkpoint import save_checkpoint
from .datasets.instruments import load_folder_dataset
from .factory import build_model

__all__ = ["load_windows", "train", "evaluate"]

STATE_NAME = "train_state.pt"
SILENT_PEAK = 1e-3  # windows quieter than -60 dBFS carry no class information


def load_windows(directory, items, sample_rate: int, window_seconds: float = 1.0):
    """Read every file, cut it into non-overlapping 1 s windows (the last one zero
    padded), drop silent windows. Returns ``(x [n, n_samples] float32, y, file_index)``."""
    n = int(round(window_seconds * sample_rate))
    xs, ys, fs = [], [], []
    for file_index, (rel, label) in enumerate(items):
        try:
            audio, rate = sf.read(str(Path(directory) / rel), dtype="float32", always_2d=True)
        except Exception as exc:
            raise DreamError(f"{rel}: cannot read audio ({exc}); remove or fix the file") from None
        mono = audio.mean(axis=1)
        if rate != sample_rate:
            mono = resample(mono, rate, sample_rate)
        for start in range(0, max(len(mono), 1), n):
            window = mono[start : start + n]
            if len(window) < n:
                if start > 0 and len(window) < n // 4:
                    break
                window = np.pad(window, (0, n - len(window)))
            if np.max(np.abs(window)) < SILENT_PEAK:
                continue
            xs.append(peak_normalize(window))
            ys.append(label)
            fs.append(file_index)
    if not xs:
        raise DreamError(f"{directory}: no non-silent audio found")
    return np.stack(xs), np.asarray(ys, dtype=np.int64), np.asarray(fs)


def _split(items, test_set, seed: int, test_fraction: float = 0.2):
    """Indices of test files: from split.json, else stratified per class (whole files)."""
    if test_set is not None:
        return np.array([rel in test_set for rel, _ in items])
    rng = np.random.default_rng(seed)
    is_test = np.zeros(len(items), dtype=bool)
    by_class = {}
    for i, (_, label) in enumerate(items):
        by_class.setdefault(label, []).append(i)
    for indices in by_class.values():
        indices = np.array(indices)
        rng.shuffle(indices)
        k = int(round(len(indices) * test_fraction)) if len(indices) > 1 else 0
        is_test[indices[:k]] = True
    return is_test


AUGMENTATION = "speed/pitch +-3 semitones (linear interpolation), shift +-50 ms, polarity"


def _augment(x: torch.Tensor, generator: torch.Generator, sample_rate: int) -> torch.Tensor:
    """Random speed change of up to +-3 semitones (pitch and time together, as a
    varispeed), shift of up to 50 ms (zero fill) and polarity: cheap invariances of sound
    that help a pitch-held-out split generalise."""
    b, n = x.shape
    ratio = 2.0 ** ((torch.rand(b, 1, generator=generator) * 6.0 - 3.0) / 12.0)
    pos = torch.arange(n)[None, :] * ratio
    i0 = pos.floor().long()
    frac = pos - i0
    inside = (i0 + 1 < n).float()
    i0 = i0.clamp(max=n - 2)
    x = (torch.gather(x, 1, i0) * (1 - frac) + torch.gather(x, 1, i0 + 1) * frac) * inside
    max_shift = int(0.05 * sample_rate)
    shift = torch.randint(-max_shift, max_shift + 1, (b, 1), generator=generator)
    index = torch.arange(n)[None, :] - shift
    valid = (index >= 0) & (index < n)
    out = torch.gather(x, 1, index.clamp(0, n - 1)) * valid
    sign = torch.randint(0, 2, (b, 1), generator=generator).float() * 2 - 1
    return out * sign


@torch.no_grad()
def evaluate(model, x: torch.Tensor, y: torch.Tensor, batch_size: int = 256) -> float:
    """Top-1 accuracy of ``model`` (eval mode) on windows ``x`` ``[n, n_samples]``."""
    model.eval()
    correct = 0
    for i in range(0, len(x), batch_size):
        pred = model(x[i : i + batch_size, None, :]).argmax(dim=-1)
        correct += int((pred == y[i : i + batch_size]).sum())
    return correct / max(len(x), 1)


def train(
    dataset_dir,
    out_dir,
    arch: str = "model2",
    epochs: int = 200,
    lr_step_epochs: int | None = None,
    batch_size: int = 128,
    learning_rate: float = 1e-3,
    seed: int = 0,
    resume: bool = False,
    command: str = "",
    progress: bool = True,
    sample_rate: int = 44100,
) -> dict:
    """Train ``arch`` on a class-per-subfolder dataset; return the model card.

    ``lr_step_epochs`` defaults to half the epochs (the paper: 200 epochs, x0.1 every 100).
    """
    from tqdm import tqdm

    torch.manual_seed(seed)
    torch.set_num_threads(os.cpu_count() or 1)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    lr_step_epochs = lr_step_epochs or max(1, epochs // 2)
    classes, items, test_set = load_folder_dataset(dataset_dir)
    is_test_file = _split(items, test_set, seed)
    x, y, file_index = load_windows(dataset_dir, items, sample_rate)
    test_mask = is_test_file[file_index]
    x_train, y_train = torch.from_numpy(x[~test_mask]), torch.from_numpy(y[~test_mask])
    x_test, y_test = torch.from_numpy(x[test_mask]), torch.from_numpy(y[test_mask])
    if len(x_test) == 0 or len(x_train) == 0:
        raise DreamError(f"{dataset_dir}: the 80/20 split left an empty side; add more files per class")

    model = build_model(arch, len(classes), sample_rate)
    optimiser = torch.optim.Adam(model.parameters(), lr=learning_rate)
    scheduler = torch.optim.lr_scheduler.StepLR(optimiser, step_size=lr_step_epochs, gamma=0.1)
    generator = torch.Generator().manual_seed(seed)
    history = []
    start_epoch = 0
    state_path = out_dir / STATE_NAME
    if resume and state_path.is_file():
        state = torch.load(state_path, weights_only=True)
        model.load_state_dict(state["model"])
        optimiser.load_state_dict(state["optimiser"])
        scheduler.load_state_dict(state["scheduler"])
        scheduler.step_size = lr_step_epochs  # a resumed run follows the schedule it is given now
        generator.set_state(state["generator"])
        history = [
            dict(zip(("epoch", "loss", "train_accuracy", "test_accuracy", "seconds"), row))
            for row in state["history"].tolist()
        ]
        start_epoch = int(state["epoch"])
        print(f"resuming {arch} at epoch {start_epoch}/{epochs}")

    n_batches = math.ceil(len(x_train) / batch_size)
    for epoch in range(start_epoch, epochs):
        model.train()
        t0 = time.perf_counter()
        order = torch.randperm(len(x_train), generator=generator)
        total_loss, total_correct, seen = 0.0, 0, 0
        bar = tqdm(range(n_batches), desc=f"epoch {epoch + 1}/{epochs}", disable=not progress, leave=False)
        for b in bar:
            index = order[b * batch_size : (b + 1) * batch_size]
            xb = _augment(x_train[index], generator, sample_rate)[:, None, :]
            yb = y_train[index]
            log_probs = model(xb)
            loss = F.nll_loss(log_probs, yb)
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            total_loss += float(loss.detach()) * len(index)
            total_correct += int((log_probs.argmax(-1) == yb).sum())
            seen += len(index)
            bar.set_postfix(loss=f"{total_loss / seen:.3f}", acc=f"{total_correct / seen:.3f}")
        scheduler.step()
        test_acc = evaluate(model, x_test, y_test)
        row = {
            "epoch": epoch + 1,
            "loss": total_loss / seen,
            "train_accuracy": total_correct / seen,
            "test_accuracy": test_acc,
            "seconds": time.perf_counter() - t0,
        }
        history.append(row)
        print(
            f"epoch {epoch + 1}/{epochs} loss {row['loss']:.4f} train {row['train_accuracy']:.3f} "
            f"test {test_acc:.3f} ({row['seconds']:.0f} s)",
            flush=True,
        )
        state = {
            "model": model.state_dict(),
            "optimiser": optimiser.state_dict(),
            "scheduler": scheduler.state_dict(),
            "generator": generator.get_state(),
            "epoch": torch.tensor(epoch + 1),
            "history": torch.tensor(
                [[r[k] for k in ("epoch", "loss", "train_accuracy", "test_accuracy", "seconds")] for r in history]
            ),
        }
        with atomic_path(state_path) as tmp:
            torch.save(state, str(tmp))

    model.eval()
    card = {
        "name": out_dir.name,
        "class_names": classes,
        "test_accuracy": history[-1]["test_accuracy"] if history else None,
        "training": {
            "dataset": Path(dataset_dir).name,
            "n_train_windows": len(x_train),
            "n_test_windows": len(x_test),
            "split": "the dataset's split.json" if test_set is not None else "seeded class-stratified 80/20 by file",
            "epochs": epochs,
            "batch_size": batch_size,
            "learning_rate": learning_rate,
            "lr_step_epochs": lr_step_epochs,
            "augmentation": AUGMENTATION,
            "seed": seed,
            "command": command,
            "train_seconds": sum(r["seconds"] for r in history),
            "history": history,
        },
    }
    return save_checkpoint(model, out_dir, card)
