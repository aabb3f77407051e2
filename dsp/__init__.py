"""Reference DSP on numpy arrays (numpy/scipy only): filters, smoothing, windows,
normalisation, resampling and the Bisig audio features."""

from .features import feature_summary, rms, spectral_centroid, spectral_flatness, spectral_flux
from .filters import band_response, fft_filter
from .normalize import peak_normalize, remove_dc
from .resample import resample
from .smoothing import cascade_kernel, cascade_smooth, gaussian_kernel, smoothing_sigma
from .windows import excerpt_starts, excerpt_weight, fade_window

__all__ = [
    "band_response", "cascade_kernel", "cascade_smooth", "excerpt_starts", "excerpt_weight", "fade_window",
    "feature_summary", "fft_filter", "gaussian_kernel", "peak_normalize", "remove_dc", "resample", "rms",
    "smoothing_sigma", "spectral_centroid", "spectral_flatness", "spectral_flux",
]
