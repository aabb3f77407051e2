"""Audio files in and out via soundfile, in blocks, atomically.

- Inputs are validated up front (missing, unreadable, empty) and every block read is
  checked for NaN/Inf.
- Outputs go to a hidden temporary file beside the target and are renamed into place
  only when complete, so no partial file ever exists under the final name; on any
  error the temporary file is removed.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import soundfile as sf

from dreambridge.presets.errors import AudioIOError, first_line
from dreambridge.presets.fileutil import atomic_path

__all__ = [
    "AudioInfo",
    "probe",
    "BlockReader",
    "atomic_writer",
    "output_format",
    "check_output_path",
    "read_audio",
    "write_audio",
]


class AudioInfo:
    def __init__(self, path: Path, info):
        self.path = path
        self.n_samples = int(info.frames)
        self.n_channels = int(info.channels)
        self.sample_rate = int(info.samplerate)
        self.format = info.format
        self.subtype = info.subtype

    @property
    def seconds(self) -> float:
        return self.n_samples / self.sample_rate


def probe(path) -> AudioInfo:
    """Check an input file and return its layout; one clear ``AudioIOError`` otherwise."""
    path = Path(path)
    if not path.exists():
        raise AudioIOError(f"input file {path} does not exist; check the path")
    if path.is_dir():
        raise AudioIOError(f"{path} is a folder; give an audio file")
    try:
        info = sf.info(str(path))
    except Exception as exc:
        raise AudioIOError(f"{path}: cannot read audio ({first_line(exc)}); supported: WAV, FLAC, AIFF, OGG") from None
    if info.frames <= 0:
        raise AudioIOError(f"{path} holds no samples (zero-length audio); export the stem again")
    return AudioInfo(path, info)




class BlockReader:
    """Sequential reads of ``[start, stop)`` ranges with a rolling buffer.

    Ranges may overlap and move forward; data before ``discard_before(pos)`` is dropped,
    so memory stays bounded by the largest range requested. Returns
    ``(n_channels, stop - start)`` float32, silence past the end of the file. ``transform``
    (a pre-fx chain) sees every sample once, in order, the silence past the end included.
    """

    def __init__(self, path, info: AudioInfo, transform=None):
        self.info = info
        self.transform = transform  # applied once to every block read, in order (a pre-fx chain)
        self.file = sf.SoundFile(str(path))
        self.buffer = np.zeros((info.n_channels, 0), dtype=np.float32)
        self.buffer_start = 0

    def _fill_to(self, stop: int) -> None:
        end = self.buffer_start + self.buffer.shape[1]
        want = stop - end
        if want <= 0:
            return
        real = max(0, min(stop, self.info.n_samples) - end)
        block = (
            self.file.read(real, dtype="float32", always_2d=True).T
            if real
            else np.zeros((self.info.n_channels, 0), np.float32)
        )
        if not np.all(np.isfinite(block)):
            bad = end + int(np.argmax(~np.all(np.isfinite(block), axis=0)))
            raise AudioIOError(
                f"{self.info.path}: sample {bad} ({bad / self.info.sample_rate:.3f} s) is NaN or Inf; "
                "repair or re-export the file"
            )
        if block.shape[1] < want:  # past the end: silence (through the pre-fx too, as a stream would)
            block = np.pad(block, ((0, 0), (0, want - block.shape[1])))
        if self.transform is not None:
            block = self.transform(np.ascontiguousarray(block), self.info.sample_rate)
        self.buffer = np.concatenate([self.buffer, block], axis=1)

    def __call__(self, start: int, stop: int) -> np.ndarray:
        if start < self.buffer_start:
            raise AssertionError("BlockReader reads must not go back before discard_before()")
        self._fill_to(stop)
        lo = start - self.buffer_start
        return self.buffer[:, lo : lo + (stop - start)]

    def discard_before(self, pos: int) -> None:
        drop = min(max(pos - self.buffer_start, 0), self.buffer.shape[1])
        if drop:
            self.buffer = self.buffer[:, drop:]
            self.buffer_start += drop

    def close(self) -> None:
        self.file.close()


_EXT_FORMATS = {".wav": "WAV", ".flac": "FLAC", ".aif": "AIFF", ".aiff": "AIFF", ".ogg": "OGG"}


def output_format(path, like: AudioInfo | None = None, subtype: str | None = None) -> tuple[str, str]:
    """``(format, subtype)`` for an output path: the input's subtype when the container
    is the same, the container's default otherwise, ``subtype`` when given."""
    ext = Path(path).suffix.lower()
    if ext not in _EXT_FORMATS:
        raise AudioIOError(f"output {path}: unknown extension {ext!r}; use one of {', '.join(sorted(_EXT_FORMATS))}")
    fmt = _EXT_FORMATS[ext]
    if subtype is None:
        if like is not None and like.format == fmt:
            subtype = like.subtype
        else:
            subtype = {"WAV": "PCM_24", "FLAC": "PCM_24", "AIFF": "PCM_24", "OGG": "VORBIS"}[fmt]
    subtype = subtype.upper()
    if not sf.check_format(fmt, subtype):
        valid = ", ".join(sorted(sf.available_subtypes(fmt)))
        raise AudioIOError(f"subtype {subtype!r} is not valid for {fmt}; valid: {valid}")
    return fmt, subtype


def check_output_path(output, overwrite: bool, inputs=()) -> Path:
    """Refuse to overwrite without ``overwrite`` and never write over an input."""
    output = Path(output)
    for item in inputs:
        if item is not None and Path(item).exists() and output.exists() and os.path.samefile(item, output):
            raise AudioIOError(f"output {output} is the input file; choose another output path")
        if item is not None and Path(item).resolve() == output.resolve():
            raise AudioIOError(f"output {output} is the input file; choose another output path")
    if output.exists() and not overwrite:
        raise AudioIOError(f"output {output} already exists; pass --overwrite to replace it")
    if not output.parent.exists():
        raise AudioIOError(f"output folder {output.parent} does not exist; create it first")
    return output


@contextmanager
def atomic_writer(path, sample_rate: int, n_channels: int, fmt: str, subtype: str):
    """Yield ``write(block (n_channels, n))``; the file appears at ``path`` only on success."""
    with atomic_path(path) as tmp, \
            sf.SoundFile(tmp, "w", samplerate=sample_rate, channels=n_channels, format=fmt, subtype=subtype) as f:
        yield lambda block: f.write(np.ascontiguousarray(block.T))


def read_audio(path) -> tuple[np.ndarray, int]:
    """Whole file as ``(n_channels, n_samples)`` float32 and its rate (validated)."""
    info = probe(path)
    reader = BlockReader(path, info)
    try:
        return reader(0, info.n_samples), info.sample_rate
    finally:
        reader.close()


def write_audio(path, audio: np.ndarray, sample_rate: int, subtype: str | None = None) -> None:
    """Write ``(n_channels, n_samples)`` atomically (format from the extension)."""
    fmt, subtype = output_format(path, None, subtype)
    with atomic_writer(path, sample_rate, audio.shape[0], fmt, subtype) as write:
        write(audio)
