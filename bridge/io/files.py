"""Dreaming files: one input file (or noise) to one output file, in blocks."""

from __future__ import annotations

import numpy as np

from dreambridge.bridge.io.audio import BlockReader, atomic_writer, output_format, probe

__all__ = ["dream_file", "dream_to_file"]


def _progress_bar(total_samples: int, sample_rate: int, enabled: bool, desc: str):
    from tqdm import tqdm

    bar = tqdm(total=round(total_samples / sample_rate, 2), unit="s", desc=desc, disable=not enabled,
               bar_format="{l_bar}{bar}| {n:.1f}/{total:.1f} s audio [{elapsed}<{remaining}{postfix}]")
    import time

    t0 = time.perf_counter()

    def update(n_done):
        bar.n = round(n_done / sample_rate, 2)
        elapsed = time.perf_counter() - t0
        if elapsed > 0:
            bar.set_postfix_str(f"{n_done / sample_rate / elapsed:.1f}x real time")
        bar.refresh()

    return bar, update


def dream_file(dreamer, input_path, output_path, subtype: str | None = None, progress: bool = True,
               pre_fx=None, post_fx=None):
    """Dream ``input_path`` into ``output_path`` (same length, rate, channels; the input's
    format/subtype unless ``subtype``). Constant memory in the file's length. ``pre_fx`` /
    ``post_fx`` (``(block, rate) -> block``, state kept) run before and after the dream."""
    info = probe(input_path)
    fmt, subtype = output_format(output_path, info, subtype)
    reader = BlockReader(input_path, info, transform=pre_fx)
    bar, update = _progress_bar(info.n_samples, info.sample_rate, progress, info.path.name)
    try:
        with atomic_writer(output_path, info.sample_rate, info.n_channels, fmt, subtype) as write:
            written = 0

            def sink(block):
                nonlocal written
                write(post_fx(block, info.sample_rate) if post_fx is not None else block)
                written += block.shape[1]
                reader.discard_before(written)

            stats = dreamer.render(reader, sink, info.n_samples, info.n_channels, info.sample_rate, progress=update)
    finally:
        reader.close()
        bar.close()
    return stats


def dream_to_file(
    dreamer,
    output_path,
    seconds: float,
    n_channels: int = 1,
    subtype: str | None = None,
    progress: bool = True,
    post_fx=None,
):
    """Dream ``seconds`` from noise or silence (``params.init``) into ``output_path``, at the
    model's rate or 44.1 kHz, whichever is higher (a 16 kHz CREPE dream lands in a 44.1 kHz
    session like any other)."""
    rate = max(dreamer.sample_rate, 44100)
    n_total = max(1, int(round(seconds * rate)))
    fmt, subtype = output_format(output_path, None, subtype)
    bar, update = _progress_bar(n_total, rate, progress, "dream")

    def read(start, stop):
        return np.zeros((n_channels, stop - start), dtype=np.float32)

    try:
        with atomic_writer(output_path, rate, n_channels, fmt, subtype) as write:
            sink = write if post_fx is None else (lambda block: write(post_fx(block, rate)))
            return dreamer.render(read, sink, n_total, n_channels, rate, progress=update)
    finally:
        bar.close()
