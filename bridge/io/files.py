"""Dreaming files: one input file (or noise) to one output file, in blocks."""

from __future__ import annotations

import numpy as np

from dreambridge.bridge.io.audio import BlockReader, atomic_writer, output_format, probe

__all__ = ["dream_file", "dream_to_file", "dream_short_files"]


class _NoBar:
    """The progress bar of a quiet run: nothing to draw, nothing to import."""

    def close(self) -> None:
        pass


def _progress_bar(total_samples: int, sample_rate: int, enabled: bool, desc: str):
    if not enabled:
        return _NoBar(), lambda n_done: None
    from tqdm import tqdm

    bar = tqdm(total=round(total_samples / sample_rate, 2), unit="s", desc=desc,
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


def dream_short_files(dreamer, items, subtype: str | None = None) -> list:
    """Dream files of one excerpt or less (one-shots) with their excerpts in one batch: on a GPU
    a folder of one-shots then costs a few dream calls instead of one per file.

    ``items`` is a list of ``(input_path, output_path, pre_fx, post_fx)`` whose files share one
    rate and channel count and are at most one excerpt long (``dreamer.layout``). Each file is
    its own excerpt 0, on the one excerpt grid (``ExcerptScheduler``), dreamed at its own length
    (``ExcerptScheduler.excerpt_length``; files of equal dream length share a batch), so every
    output is the ``dream_file`` output up to the float rounding of a larger batch. Returns, per item, its
    :class:`RenderStats` or the :class:`DreamError` / ``OSError`` that failed it (the others go on).
    """
    import time

    from dreambridge.bridge.engine.scheduler import ExcerptScheduler, RenderStats
    from dreambridge.presets.errors import DreamError

    t0 = time.perf_counter()
    results = [None] * len(items)
    loaded = []  # (index, info, scheduler, excerpt)
    for i, (input_path, _output, pre_fx, _post) in enumerate(items):
        try:
            info = probe(input_path)
            scheduler = ExcerptScheduler(dreamer, info.sample_rate, info.n_channels)
            if info.n_samples > scheduler.n_excerpt:
                raise ValueError(f"{input_path} is longer than one excerpt; dream it with dream_file")
            reader = BlockReader(input_path, info, transform=pre_fx)
            try:
                loaded.append((i, info, scheduler, reader(0, scheduler.excerpt_length(info.n_samples))))
            finally:
                reader.close()
        except (DreamError, OSError) as exc:
            results[i] = exc
    if loaded:
        if len({(info.sample_rate, info.n_channels) for _, info, _, _ in loaded}) > 1:
            raise ValueError("dream_short_files takes files of one rate and channel count")
        first, wets = loaded[0][2], {}
        for n in sorted({x.shape[1] for *_, x in loaded}):  # one batch per dream length
            same = [j for j, (*_, x) in enumerate(loaded) if x.shape[1] == n]
            wets.update(zip(same, first.dream([0] * len(same), [loaded[j][3] for j in same], first.params_for(0),
                                              [loaded[j][1].n_samples for j in same])))
        for (i, info, scheduler, _), wet in zip(loaded, (wets[j] for j in range(len(loaded)))):
            output_path, post_fx = items[i][1], items[i][3]
            try:
                fmt, file_subtype = output_format(output_path, info, subtype)
                scheduler.add(0, wet)
                block = scheduler.finish(info.n_samples)
                with atomic_writer(output_path, info.sample_rate, info.n_channels, fmt, file_subtype) as write:
                    write(post_fx(block, info.sample_rate) if post_fx is not None else block)
                results[i] = RenderStats(info.n_samples, 1, (time.perf_counter() - t0) / len(loaded))
            except (DreamError, OSError) as exc:
                results[i] = exc
    return results
