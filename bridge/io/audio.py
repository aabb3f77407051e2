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

from dreambridge.dsp.normalize import CEILING_DB, db_to_gain
from dreambridge.presets.errors import AudioIOError, first_line
from dreambridge.presets.fileutil import atomic_path, temp_path
from dreambridge.presets.fileutil import check_input_file as _check_input_file

__all__ = ["AudioInfo", "check_input_file", "finish_block", "probe", "BlockReader", "atomic_writer", "output_format",
           "check_output_path", "read_audio", "write_audio", "LOSSY_SUBTYPES", "FULL_SCALE"]


class AudioInfo:
    def __init__(self, path: Path, info):
        self.path = path
        self.n_samples = int(info.frames)
        self.n_channels = int(info.channels)
        self.sample_rate = int(info.samplerate)
        self.format = info.format
        self.subtype = info.subtype
        self.allow_hot = False  # float samples above full scale accepted (measuring, not dreaming)

    @property
    def seconds(self) -> float:
        return self.n_samples / self.sample_rate


def check_input_file(path, what: str = "input file") -> Path:
    """A regular, readable file (see ``fileutil.check_input_file``), or one ``AudioIOError``."""
    return _check_input_file(path, what, AudioIOError)


def probe(path, verify: bool = True, allow_hot: bool = False) -> AudioInfo:
    """Check an input file and return its layout; one clear ``AudioIOError`` otherwise.

    With ``verify`` the whole file is decoded once (in blocks, constant memory) before any
    output exists, so a file corrupted mid-stream, truncated, holding NaN/Inf or peaking
    above full scale is refused up front rather than half-way through a render.
    ``allow_hot`` accepts float samples above full scale (``analyze`` measures any file).
    """
    path = check_input_file(path)
    try:
        info = sf.info(str(path))
    except Exception as exc:
        raise AudioIOError(f"{path}: cannot read audio ({first_line(exc)}); supported: {SUPPORTED}") from None
    if info.frames <= 0:
        raise AudioIOError(f"{path} holds no samples (zero-length audio); export the stem again")
    result = AudioInfo(path, info)
    result.allow_hot = allow_hot
    if verify:
        _verify(result)
    return result


SUPPORTED = "WAV, FLAC, AIFF, OGG, MP3"
_VERIFY_BLOCK = 1 << 16


def _decode_error(info: AudioInfo, position: int, exc: BaseException) -> AudioIOError:
    return AudioIOError(f"{info.path}: the audio is corrupt at sample {position} "
                        f"({position / info.sample_rate:.3f} s): "
                        f"{first_line(exc)}; repair or re-export the file")


def _check_block(info: AudioInfo, block: np.ndarray, position: int) -> None:
    """Finite samples within full scale, or one clear error naming the first bad sample."""
    finite = np.isfinite(block)
    if not np.all(finite):
        bad = position + int(np.argmax(~np.all(finite, axis=0)))
        raise AudioIOError(f"{info.path}: sample {bad} ({bad / info.sample_rate:.3f} s) is NaN or Inf; "
                           "repair or re-export the file")
    peak = float(np.max(np.abs(block))) if block.size else 0.0
    if peak > FULL_SCALE and not info.allow_hot:
        bad = position + int(np.argmax(np.max(np.abs(block), axis=0) > FULL_SCALE))
        raise AudioIOError(
            f"{info.path}: float samples exceed full scale (|x| = {peak:.4g}, {20 * np.log10(peak):+.1f} dBFS, "
            "first at "
            f"{bad / info.sample_rate:.3f} s); normalise the file to 0 dBFS or below (e.g. sox IN OUT norm -0.1)")


def _verify(info: AudioInfo) -> None:
    """Decode every sample once (see ``probe``)."""
    n_read = 0
    try:
        with sf.SoundFile(str(info.path)) as f:
            while True:
                block = f.read(_VERIFY_BLOCK, dtype="float32", always_2d=True)
                if not len(block):
                    break
                _check_block(info, block.T, n_read)
                n_read += len(block)
    except AudioIOError:
        raise
    except (RuntimeError, ValueError, OSError) as exc:  # soundfile.LibsndfileError is a RuntimeError
        raise _decode_error(info, n_read, exc) from None
    if n_read < info.n_samples:
        raise AudioIOError(f"{info.path}: truncated: the header promises {info.n_samples} samples, only {n_read} "
                           "decode; "
                           "repair or re-export the file")


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
        try:
            self.file = sf.SoundFile(str(path))
        except (RuntimeError, ValueError, OSError) as exc:
            raise _decode_error(info, 0, exc) from None
        self.buffer = np.zeros((info.n_channels, 0), dtype=np.float32)
        self.buffer_start = 0

    def _fill_to(self, stop: int) -> None:
        end = self.buffer_start + self.buffer.shape[1]
        want = stop - end
        if want <= 0:
            return
        real = max(0, min(stop, self.info.n_samples) - end)
        try:
            block = self.file.read(real, dtype="float32", always_2d=True).T if real else \
                np.zeros((self.info.n_channels, 0), np.float32)
        except (RuntimeError, ValueError, OSError) as exc:  # a decoder error mid-file (soundfile.LibsndfileError)
            raise _decode_error(self.info, end, exc) from None
        if block.shape[1] < real:
            raise AudioIOError(f"{self.info.path}: truncated at sample {end + block.shape[1]} (the header promises "
                               f"{self.info.n_samples}); repair or re-export the file")
        _check_block(self.info, block, end)
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


_EXT_FORMATS = {".wav": "WAV", ".flac": "FLAC", ".aif": "AIFF", ".aiff": "AIFF", ".ogg": "OGG", ".mp3": "MP3"}


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
            subtype = {"WAV": "PCM_24", "FLAC": "PCM_24", "AIFF": "PCM_24", "OGG": "VORBIS",
                       "MP3": "MPEG_LAYER_III"}[fmt]
    subtype = subtype.upper()
    if not sf.check_format(fmt, subtype):
        valid = ", ".join(sorted(sf.available_subtypes(fmt)))
        raise AudioIOError(f"subtype {subtype!r} is not valid for {fmt}; valid: {valid}")
    return fmt, subtype


def check_output_path(output, overwrite: bool, inputs=()) -> Path:
    """Refuse to overwrite without ``overwrite``, never write over an input (every file the
    command reads: audio, target, style, preset, map, automation), and refuse a folder, a
    missing folder or a read-only one before any work is done."""
    output = Path(output)
    for item in inputs:
        if item is None or not Path(item).exists():
            continue
        if Path(item).resolve() == output.resolve() or (output.exists() and os.path.samefile(item, output)):
            raise AudioIOError(f"output {output} is the input file {item} (a command never writes over what it "
                               "reads); choose another output path")
    if output.is_dir():
        raise AudioIOError(f"output {output} is a folder; give a file name, e.g. {output / 'out.wav'}")
    if output.exists() and not overwrite:
        raise AudioIOError(f"output {output} already exists; pass --overwrite to replace it")
    if not output.parent.exists():
        raise AudioIOError(f"output folder {output.parent} does not exist; create it first")
    if not output.parent.is_dir():
        raise AudioIOError(f"{output.parent} is a file, not a folder; choose an output path inside a folder")
    if not os.access(output.parent, os.W_OK | os.X_OK):
        raise AudioIOError(f"output folder {output.parent} is not writable (read-only or permission denied); "
                           "choose another output folder")
    return output


FULL_SCALE = 1.0  # input samples beyond +-1.0 (float files only) are refused: see the README, "Reliability"
LOSSY_SUBTYPES = ("VORBIS", "OPUS", "MPEG_LAYER_I", "MPEG_LAYER_II", "MPEG_LAYER_III")
_PCM_BITS = {"PCM_S8": 8, "PCM_U8": 8, "PCM_16": 16, "PCM_24": 24, "PCM_32": 32}
_LOSSY_TRIES = 6  # encode, decode, measure: Vorbis/MP3 overshoot is ~0.7 dB, one re-encode usually fixes it


def finish_block(block: np.ndarray, subtype: str = "FLOAT") -> np.ndarray:
    """The one place every output block passes before it is written (after any post-fx).

    Non-finite samples are an error (never a file); samples are clipped to the ceiling
    (``CEILING_DB``), and the bound is the one that still decodes at or under it: for float
    subtypes the float32 just below -0.1 dBFS (float32 rounds the ceiling itself up), for
    integer PCM ``+-floor(ceiling * 2**(bits-1)) / 2**(bits-1)``, a code that libsndfile writes
    exactly whichever way it scales (it rounds negative samples with 2**(bits-1), so an
    unrounded bound let negative peaks land at -0.09998 dBFS). Returns float32 (float64 for
    PCM_32, whose codes float32 cannot hold).
    """
    block = np.asarray(block)
    if not np.all(np.isfinite(block)):
        raise AudioIOError("the audio to write holds NaN or Inf samples (an effect in [[fx.post]] with an infinite or "
                           "NaN setting, or a diverged dream); fix the preset or parameters")
    top = _ceiling_for(subtype)
    if subtype.upper() == "PCM_32":
        return np.clip(block.astype(np.float64), -top, top)
    return np.clip(block.astype(np.float32), np.float32(-top), np.float32(top))


def _ceiling_for(subtype: str) -> float:
    ceiling = db_to_gain(CEILING_DB)
    bits = _PCM_BITS.get(subtype.upper())
    if bits is not None:
        scale = 2.0 ** (bits - 1)
        return float(np.floor(ceiling * scale) / scale)
    top = np.float32(ceiling)
    return float(np.nextafter(top, np.float32(0)) if float(top) > ceiling else top)


def _write_lossy(staging: str, tmp: str, sample_rate: int, n_channels: int, fmt: str, subtype: str) -> None:
    """Encode the float ``staging`` file into ``tmp``; decode it and, if the codec's overshoot put
    the decoded peak over the ceiling, encode again with the gain that brings it under."""
    ceiling = db_to_gain(CEILING_DB)
    gain = 1.0
    for attempt in range(_LOSSY_TRIES):
        with sf.SoundFile(staging) as src, sf.SoundFile(tmp, "w", samplerate=sample_rate, channels=n_channels,
                                                        format=fmt, subtype=subtype) as dst:
            for block in src.blocks(_VERIFY_BLOCK, dtype="float32", always_2d=True):
                dst.write(block * np.float32(gain))
        decoded_peak = 0.0
        with sf.SoundFile(tmp) as check:
            for block in check.blocks(_VERIFY_BLOCK, dtype="float32", always_2d=True):
                decoded_peak = max(decoded_peak, float(np.max(np.abs(block))) if block.size else 0.0)
        if decoded_peak <= ceiling:
            return
        # 2 % (0.18 dB) below, then 4 %, 6 %...: the next encode overshoots differently, and not always less (clipped
        # full-band noise in MP3: peaks 2.67, 1.010, 0.992, 1.041 at gains falling by 2 % each time)
        gain *= 0.98 ** (attempt + 1) * ceiling / decoded_peak
    raise AudioIOError(f"{subtype} encoding kept overshooting the {CEILING_DB} dBFS ceiling; write WAV or FLAC instead")


@contextmanager
def atomic_writer(path, sample_rate: int, n_channels: int, fmt: str, subtype: str):
    """Yield ``write(block (n_channels, n))``; the file appears at ``path`` only on success.

    Every block goes through ``finish_block``. Lossy formats are staged as float and encoded
    at the end, with the decoded peak checked against the ceiling. A write that fails (disk
    full, device gone) raises ``AudioIOError`` naming the file and the cause.
    """
    with atomic_path(path) as tmp:
        try:
            if subtype.upper() in LOSSY_SUBTYPES:
                with temp_path(Path(path).with_suffix(".wav")) as staging:
                    with sf.SoundFile(staging, "w", samplerate=sample_rate, channels=n_channels, format="WAV",
                                      subtype="FLOAT") as f:
                        yield lambda block: f.write(np.ascontiguousarray(finish_block(block).T))
                    _write_lossy(staging, tmp, sample_rate, n_channels, fmt, subtype)
            else:
                with sf.SoundFile(tmp, "w", samplerate=sample_rate, channels=n_channels, format=fmt,
                                  subtype=subtype) as f:
                    yield lambda block: f.write(np.ascontiguousarray(finish_block(block, subtype).T))
        except sf.SoundFileError as exc:
            raise AudioIOError(_write_failure(Path(path), exc)) from None


def _write_failure(path: Path, exc: BaseException) -> str:
    """One line for a failed audio write: libsndfile says only "System error" for a full disk."""
    try:
        stats = os.statvfs(path.parent)
        free = stats.f_bavail * stats.f_frsize
    except OSError:
        free = None
    if free is not None and free < 256 * 1024:
        return (f"cannot write {path}: no space left on the device ({free // 1024} KiB free); free some space or "
                "write elsewhere")
    return f"cannot write {path} ({first_line(exc) or 'system error'}); check the disk and the folder's permissions"


def read_audio(path, allow_hot: bool = False) -> tuple[np.ndarray, int]:
    """Whole file as ``(n_channels, n_samples)`` float32 and its rate (validated; ``allow_hot``:
    see ``probe``)."""
    info = probe(path, allow_hot=allow_hot)
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
