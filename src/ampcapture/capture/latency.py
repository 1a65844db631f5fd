"""The latency of gear from its recording, pure DSP: the onset of its response to calibration
blips, or (without blips) the onset of the impulse response estimated by regularized
deconvolution of the output by the input, and the plain cross-correlation's peak that must
confirm it. `capture.align` turns what these find into checks."""

from __future__ import annotations

import numpy as np

from ampcapture.capture.checks import AlignSettings

ONSET_REACH = 64  # samples before the response's peak where its onset may be (a cabinet's rise; a dark input's smear)


def blip_latencies(y: np.ndarray, blips: list[int], silence: list[int], settings: AlignSettings) -> list[int]:
    """Onset of the response to each blip: the first sample that rises above both the
    background (the recording during `silence`, [start, end): our signal's is before its first
    blip, NAM's inputs name theirs) and a fraction of the response's peak."""
    background = y[silence[0] : max(silence[1], silence[0] + 1)]
    dc = float(np.median(background))
    noise = float(np.max(np.abs(background - dc)))
    found = []
    for b in blips:
        lo, hi = max(b + settings.min_latency_samples, 0), min(b + settings.max_latency_samples + 1, y.size)
        if hi - lo <= 0:
            continue
        window = np.abs(y[lo:hi] - dc)
        peak = float(window.max())
        if peak <= settings.blip_noise_factor * noise:
            continue
        threshold = max(settings.blip_noise_factor * noise, settings.blip_relative_threshold * peak)
        found.append(int(lo + np.argmax(window > threshold) - b))
    return found


def spectra(x: np.ndarray, y: np.ndarray, sr: int, settings: AlignSettings):
    """Spectra of the first xcorr_window_s of input and output, zero-padded for linear correlation."""
    n = min(x.size, int(settings.xcorr_window_s * sr))
    size = 1 << int(np.ceil(np.log2(2 * n)))
    return np.fft.rfft(x[:n], size), np.fft.rfft(y[:n], size), size


def deconvolution_latency(spectra, settings: AlignSettings) -> tuple[int, int] | None:
    """(onset, peak) of the impulse response estimated by regularized deconvolution (whitened
    cross-correlation), or None when no lag stands out.

    A guitar's DI has little above a few kHz, so the estimate is the true response smeared by
    the input's own band limit (sinc-like ringing several samples before the peak). The onset is
    therefore found by deconvolving that smear (CLEAN: take the largest component near the
    peak, subtract the input's resolution kernel there, repeat) and taking the earliest
    component that stands out of both the peak and the noise of a nonlinear device's fit.
    """
    spec_x, spec_y, size = spectra
    power = np.abs(spec_x) ** 2
    regularized = power + 1e-3 * power.mean()
    h = np.fft.irfft(spec_y * np.conj(spec_x) / regularized, size)
    kernel = np.fft.irfft(power / regularized, size)  # the estimate a pure delay of 0 gives
    lags = np.arange(settings.min_latency_samples, settings.max_latency_samples + 1)
    mag = np.abs(h[lags % size])
    peak, floor = float(mag.max()), float(np.median(mag))
    if peak < 20.0 * floor:  # no lag stands out: not a recording of this input
        return None
    peak_lag = int(lags[np.argmax(mag)])
    near = lags[(lags >= peak_lag - ONSET_REACH) & (lags <= peak_lag + ONSET_REACH)]
    residual = h[near % size]
    threshold = max(settings.xcorr_relative_threshold * peak, 6.0 * floor)
    onset = peak_lag
    for _ in range(32):
        i = int(np.argmax(np.abs(residual)))
        if abs(residual[i]) < threshold:
            break
        onset = min(onset, int(near[i]))
        residual = residual - residual[i] * kernel[(near - near[i]) % size]
    return onset, peak_lag


def plain_xcorr_peak(spectra, settings: AlignSettings) -> int:
    """Lag of the largest plain (unwhitened) cross-correlation, of either polarity: an estimate
    independent of the deconvolution's whitening, to confirm it."""
    spec_x, spec_y, size = spectra
    r = np.fft.irfft(spec_y * np.conj(spec_x), size)
    lags = np.arange(settings.min_latency_samples, settings.max_latency_samples + 1)
    return int(lags[np.argmax(np.abs(r[lags % size]))])
