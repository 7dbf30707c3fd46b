"""Music features that drive schedules: loudness, onsets, beats and band energies over a soundtrack.

The soundtrack is decoded with PyAV (anything FFmpeg reads), mixed to mono at
:data:`SAMPLE_RATE` and analysed with numpy and scipy (no librosa: its numba and
llvmlite dependencies are heavy and slow to import, and what the dream needs is a few
curves): a short-time spectrum every :data:`HOP` samples (11.6 ms), and from it

- ``loudness``: RMS level in dB;
- ``low``, ``mid``, ``high``: energy in dB below 250 Hz, 250-2000 Hz and above 2000 Hz;
- ``onset``: spectral flux of the log mel spectrum (how much louder the sound just got);
- ``beat``: a pulse that is 1 on a beat and decays before the next one (``exp(-4 x)``,
  ``x`` the fraction of the beat interval elapsed); the beats come from a dynamic-programming
  tracker (Ellis 2007) on the onset envelope, following a local tempo.

Each is normalised over the track to [0, 1] (levels from 60 dB under the track's loudest to it;
the onset by its 99th percentile). A video frame reads them over its own span of time:
``[t - d/2, t + d/2)`` around its timestamp ``t``, ``d`` one frame's duration (the mean of
the levels, the peak of the onset and the pulse), so a beat at a frame's timestamp peaks
at that frame, at any frame rate.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field

import numpy as np

from .errors import MediaError
from .schedule import FEATURES

__all__ = [
    "HOP",
    "SAMPLE_RATE",
    "MusicFeatures",
    "analyse",
    "beat_f_measure",
    "decode_audio",
    "features_table",
    "load_music",
    "plot_features",
    "track_beats",
]

SAMPLE_RATE = 22050
HOP = 256
# Analysis windows: 46 ms for the levels and the beat tracker (whose onsets then favour the beat's
# low, long sounds over the hats between beats), 23 ms for the onset feature, whose rise then
# comes within 12 ms of the sound (a longer window sees it coming: up to 23 ms early).
N_FFT = 1024
ONSET_N_FFT = 512
MEL_BANDS = 64
LEVEL_RANGE_DB = 60.0  # levels are normalised from this far under the track's loudest
BANDS_HZ = {"low": (0.0, 250.0), "mid": (250.0, 2000.0), "high": (2000.0, SAMPLE_RATE / 2)}
TEMPO_RANGE_BPM = (60.0, 240.0)
TEMPO_WINDOW_S = 6.0
# A slower tempo is taken over a faster one only when the faster one's periodicity is this much
# weaker: a click track at 180 bpm is as periodic at 90, and the beat is the faster.
FASTER_TEMPO_SHARE = 0.75
TIGHTNESS = 100.0  # the tracker's penalty on a beat interval off the local period (librosa's default)
PULSE_DECAY = 4.0
ONSET_LEAD_S = 0.0105  # how far the tracker's onset peaks run ahead of the sound (see track_beats)


@dataclass
class MusicFeatures:
    """The feature curves of one soundtrack, one value every ``hop_s`` seconds from ``start``.

    Attributes:
        source: where the sound came from.
        start: seconds on the source clock of the first value.
        hop_s: seconds between values.
        curves: feature name → ``float32 (N,)`` in [0, 1] (``beat`` is the decaying pulse).
        beats: beat times, seconds on the source clock.
        duration: seconds of sound.
    """

    source: str
    start: float
    hop_s: float
    curves: dict[str, np.ndarray]
    beats: np.ndarray
    duration: float
    tempo_bpm: float = field(default=0.0)

    def at(self, time: float, span: float) -> dict[str, float]:
        """The features of a video frame at ``time`` seconds lasting ``span`` seconds (see module doc)."""
        first = math.ceil((time - span / 2 - self.start) / self.hop_s - 1e-9)
        last = math.ceil((time + span / 2 - self.start) / self.hop_s - 1e-9)  # exclusive
        n = len(self.curves["loudness"])
        first, last = max(0, first), min(n, max(last, first + 1))
        if first >= n:
            return dict.fromkeys(FEATURES, 0.0)
        values = {}
        for name in FEATURES:
            window = self.curves[name][first:last]
            values[name] = float(window.max() if name in ("onset", "beat") else window.mean())
        # The pulse is 1 exactly on a beat; the curve's samples may straddle it.
        if np.any((self.beats >= time - span / 2) & (self.beats < time + span / 2)):
            values["beat"] = 1.0
        return values

    def table(self, times: list[float], span: float) -> list[dict[str, float]]:
        """:meth:`at` for each of ``times``."""
        return [self.at(t, span) for t in times]


def decode_audio(path: str | os.PathLike, *, sample_rate: int = SAMPLE_RATE) -> tuple[np.ndarray, float]:
    """The first audio stream of ``path`` as mono ``float32 (N,)`` at ``sample_rate``, and the
    time (seconds on the source clock) of its first sample.

    Raises:
        MediaError: unreadable file, or no audio stream (hint: ``--music FILE``).
    """
    import av

    try:
        container = av.open(str(path))
    except (av.error.FFmpegError, OSError) as exc:
        raise MediaError(f"cannot read {path}: {exc}") from None
    with container:
        if not container.streams.audio:
            raise MediaError(f"{path} has no audio to take music features from", hint="give a soundtrack with --music FILE")
        stream = container.streams.audio[0]
        resampler = av.AudioResampler(format="flt", layout="mono", rate=sample_rate)
        chunks, start = [], None
        for frame in container.decode(stream):
            if start is None and frame.pts is not None and frame.time_base is not None:
                start = float(frame.pts * frame.time_base)
            chunks.extend(out.to_ndarray().reshape(-1) for out in resampler.resample(frame))
        chunks.extend(out.to_ndarray().reshape(-1) for out in resampler.resample(None))
    samples = np.concatenate(chunks).astype(np.float32) if chunks else np.zeros(0, np.float32)
    if samples.size < N_FFT:
        raise MediaError(f"{path}: its soundtrack is too short to analyse ({samples.size / sample_rate:.3f} s)")
    return samples, start or 0.0


def load_music(path: str | os.PathLike) -> MusicFeatures:
    """Decode ``path``'s soundtrack and :func:`analyse` it."""
    samples, start = decode_audio(path)
    return analyse(samples, SAMPLE_RATE, start=start, source=str(path))


def analyse(samples: np.ndarray, sample_rate: int = SAMPLE_RATE, *, start: float = 0.0, source: str = "") -> MusicFeatures:
    """The features of mono ``samples`` ``float (N,)`` at ``sample_rate`` (resampled here if not
    :data:`SAMPLE_RATE`); value ``i`` is centred on ``start + i * HOP / SAMPLE_RATE`` seconds."""
    samples = np.asarray(samples, np.float32)
    if sample_rate != SAMPLE_RATE:
        from scipy import signal  # here: scipy's import is start-up time that only a run with music pays

        samples = signal.resample_poly(samples, SAMPLE_RATE, sample_rate).astype(np.float32)
    power = _power_spectrum(samples, N_FFT)  # (frames, bins)
    freqs = np.fft.rfftfreq(N_FFT, 1 / SAMPLE_RATE)
    curves = {"loudness": _level(power.sum(axis=1))}
    for name, (lo, hi) in BANDS_HZ.items():
        curves[name] = _level(power[:, (freqs >= lo) & (freqs < hi)].sum(axis=1))
    onset = onset_envelope(power, N_FFT)
    sharp = onset_envelope(_power_spectrum(samples, ONSET_N_FFT), ONSET_N_FFT)
    curves["onset"] = np.clip(sharp / (np.percentile(sharp, 99) or 1.0), 0, 1)
    hop_s = HOP / SAMPLE_RATE
    beats, tempo = track_beats(onset, 1 / hop_s)
    curves["beat"] = _pulse(beats, len(onset), 1 / hop_s)
    return MusicFeatures(
        source=source,
        start=start,
        hop_s=hop_s,
        curves={k: v.astype(np.float32) for k, v in curves.items()},
        beats=start + beats / (1 / hop_s),
        duration=len(samples) / SAMPLE_RATE,
        tempo_bpm=tempo,
    )


def _power_spectrum(samples: np.ndarray, n_fft: int) -> np.ndarray:
    """``|STFT|²`` with a Hann window of ``n_fft``, frame ``i`` centred on sample ``i * HOP``."""
    padded = np.pad(samples, n_fft // 2)
    count = 1 + (len(padded) - n_fft) // HOP
    frames = np.lib.stride_tricks.sliding_window_view(padded, n_fft)[::HOP][:count]
    return np.abs(np.fft.rfft(frames * np.hanning(n_fft).astype(np.float32), axis=1)) ** 2


def _level(energy: np.ndarray) -> np.ndarray:
    """Energy per frame → dB, normalised to [0, 1] over :data:`LEVEL_RANGE_DB` under the loudest."""
    db = 10 * np.log10(np.maximum(energy, 1e-12))
    top = db.max()
    return np.clip((db - (top - LEVEL_RANGE_DB)) / LEVEL_RANGE_DB, 0, 1)


def _mel_filters(n_fft: int) -> np.ndarray:
    """Triangular mel filters ``(MEL_BANDS, n_fft // 2 + 1)`` from 30 Hz to 11 kHz."""
    mel = lambda hz: 2595 * np.log10(1 + hz / 700)  # noqa: E731
    edges_hz = 700 * (10 ** (np.linspace(mel(30.0), mel(11000.0), MEL_BANDS + 2) / 2595) - 1)
    freqs = np.fft.rfftfreq(n_fft, 1 / SAMPLE_RATE)
    lower, centre, upper = edges_hz[:-2, None], edges_hz[1:-1, None], edges_hz[2:, None]
    rising = (freqs - lower) / (centre - lower)
    falling = (upper - freqs) / (upper - centre)
    return np.maximum(0, np.minimum(rising, falling))


def onset_envelope(power: np.ndarray, n_fft: int) -> np.ndarray:
    """Onset strength per frame: the mean rise of the log mel spectrum (dB, floored 80 dB under
    its loudest) from the frame before; ``float (frames,)``, 0 at the first frame."""
    mel_db = 10 * np.log10(np.maximum(power @ _mel_filters(n_fft).T, 1e-10))
    mel_db = np.maximum(mel_db, mel_db.max() - 80.0)
    # The first frame has nothing before it: a track that starts with sound is no onset there.
    rise = np.maximum(0.0, np.diff(mel_db, axis=0)).mean(axis=1)
    return np.concatenate([[0.0], rise])


def local_period(onset: np.ndarray, frame_rate: float) -> np.ndarray:
    """The beat period in frames around each frame (float ``(frames,)``), from the autocorrelation
    of the onset envelope over :data:`TEMPO_WINDOW_S` windows: the fastest tempo in
    :data:`TEMPO_RANGE_BPM` whose periodicity is at least :data:`FASTER_TEMPO_SHARE` of the best."""
    n = len(onset)
    lags = np.arange(int(frame_rate * 60 / TEMPO_RANGE_BPM[1]), int(math.ceil(frame_rate * 60 / TEMPO_RANGE_BPM[0])) + 1)
    window = int(TEMPO_WINDOW_S * frame_rate)
    step = max(1, int(frame_rate / 2))
    centres = np.arange(0, max(n, 1), step)
    periods = np.empty(len(centres))
    for i, centre in enumerate(centres):
        lo = max(0, min(centre - window // 2, n - window))
        piece = onset[lo : lo + window] - onset[lo : lo + window].mean()
        if len(piece) <= lags[-1] or not piece.any():
            periods[i] = np.nan
            continue
        ac = np.array([np.dot(piece[:-lag], piece[lag:]) for lag in lags])
        peaks = [j for j in range(1, len(ac) - 1) if ac[j] >= ac[j - 1] and ac[j] >= ac[j + 1] and ac[j] > 0]
        if not peaks:
            periods[i] = np.nan
            continue
        best = max(ac[j] for j in peaks)
        j = min(j for j in peaks if ac[j] >= FASTER_TEMPO_SHARE * best)
        # Parabolic interpolation between lags: the period to a fraction of a frame.
        a, b, c = ac[j - 1], ac[j], ac[j + 1]
        shift = 0.5 * (a - c) / (a - 2 * b + c) if a - 2 * b + c else 0.0
        periods[i] = lags[j] + shift
    if np.all(np.isnan(periods)):
        periods[:] = frame_rate * 60 / 120.0
    good = ~np.isnan(periods)
    periods = np.interp(np.arange(len(periods)), np.flatnonzero(good), periods[good])
    from scipy import ndimage  # here: as in analyse

    periods = ndimage.median_filter(periods, size=5, mode="nearest")
    return np.interp(np.arange(n), centres, periods)


def track_beats(onset: np.ndarray, frame_rate: float) -> tuple[np.ndarray, float]:
    """Beat positions in frames of the onset envelope (float array) and the median tempo (bpm).

    Dynamic programming (Ellis 2007, as librosa does it) with the period of :func:`local_period`
    at each frame, so a tempo change is followed; weak beats at the ends (silence before the
    music starts) are trimmed.
    """
    if len(onset) < 4 or not np.any(onset > 0):
        return np.zeros(0), 0.0
    period = local_period(onset, frame_rate)
    norm = onset / (onset.std() or 1.0)
    n = len(norm)
    cumscore = np.zeros(n)
    backlink = np.full(n, -1)
    threshold = 0.01 * norm.max()
    started = False
    for i in range(n):
        p = period[i]
        lo, hi = int(round(i - 2 * p)), int(round(i - p / 2))
        lo = max(lo, 0)
        if hi >= lo and hi >= 0 and started:
            previous = np.arange(lo, hi + 1)
            scores = cumscore[previous] - TIGHTNESS * np.log((i - previous) / p) ** 2
            best = int(np.argmax(scores))
            cumscore[i] = norm[i] + scores[best]
            backlink[i] = previous[best]
        else:
            cumscore[i] = norm[i]
        started = started or norm[i] >= threshold
    peaks = np.flatnonzero((cumscore[1:-1] >= cumscore[:-2]) & (cumscore[1:-1] >= cumscore[2:])) + 1
    if not len(peaks):
        return np.zeros(0), 0.0
    median = np.median(cumscore[peaks])
    peaks = peaks[cumscore[peaks] * 2 > median]
    # The last beat: the best-scoring peak within a beat and a half of the last one (a weak bump
    # after the final beat would otherwise lead the backtracking off the beat).
    tail = peaks[peaks >= peaks.max() - 1.5 * period[peaks.max()]]
    last = tail[np.argmax(cumscore[tail])]
    beats = [last]
    while backlink[beats[-1]] >= 0:
        beats.append(backlink[beats[-1]])
    beats = np.array(beats[::-1])
    strength = norm[beats]
    limit = 0.5 * np.sqrt(np.mean(strength**2))
    keep = np.flatnonzero(strength >= limit)
    beats = beats[keep[0] : keep[-1] + 1] if len(keep) else beats[:0]
    # The largest rise comes while the analysis window is still sliding over the sound's start:
    # on the generated click and drum tracks the peaks came 4.9-16.1 ms (mean 10.5) before the beat.
    positions = beats + ONSET_LEAD_S * frame_rate
    tempo = float(np.median(60 * frame_rate / period)) if len(period) else 0.0
    return positions, tempo


def _pulse(beats: np.ndarray, n: int, frame_rate: float) -> np.ndarray:
    """The beat pulse per frame: 1 on a beat, ``exp(-PULSE_DECAY x)`` after it, ``x`` the fraction
    of the interval to the next beat elapsed; 0 before the first beat."""
    pulse = np.zeros(n)
    if not len(beats):
        return pulse
    ends = np.append(beats[1:], beats[-1] + (np.median(np.diff(beats)) if len(beats) > 1 else frame_rate / 2))
    for start, end in zip(beats, ends):
        i = np.arange(int(math.ceil(start)), min(n, int(math.ceil(end))))
        pulse[i] = np.exp(-PULSE_DECAY * (i - start) / (end - start))
    return pulse


def features_table(features: MusicFeatures, path: str | os.PathLike, *, rate: str | None = None) -> dict:
    """What ``dreamvideo music --json`` prints: tempo, beats and each frame's features.

    ``rate``: frames per second as text (``30``, ``30000/1001``); default: ``path``'s video rate,
    else 30. Frame ``i`` is read at ``start + i / rate``.

    Raises:
        ConfigError: a rate that is not a positive number or fraction.
    """
    from fractions import Fraction

    from .errors import ConfigError

    if rate is None:
        fps = _video_rate(path) or Fraction(30)
    else:
        try:
            fps = Fraction(rate)
        except (ValueError, ZeroDivisionError):
            fps = Fraction(0)
        if fps <= 0:
            raise ConfigError(f"bad --rate {rate!r}", hint="frames per second, e.g. 25 or 30000/1001")
    count = int(math.floor(features.duration * fps))
    times = [features.start + i / float(fps) for i in range(count)]
    rows = features.table(times, 1 / float(fps))
    return {
        "source": str(path),
        "duration_s": round(features.duration, 4),
        "tempo_bpm": round(features.tempo_bpm, 2),
        "beats_s": [round(float(b), 4) for b in features.beats],
        "rate": str(fps),
        "features": list(FEATURES),
        "frames": [{"frame": i, "t": round(t, 4), **{k: round(v, 4) for k, v in row.items()}} for i, (t, row) in enumerate(zip(times, rows))],
    }


def _video_rate(path: str | os.PathLike):
    """The first video stream's frame rate (a Fraction), or None."""
    import av

    from .io import streaminfo

    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                return None
            return streaminfo.frame_rate(container.streams.video[0])[0]
    except (av.error.FFmpegError, OSError):
        return None


def beat_f_measure(reference: np.ndarray, estimated: np.ndarray, window: float = 0.07) -> float:
    """F-measure of ``estimated`` beat times against ``reference`` (seconds): each reference beat
    matches at most one estimate within ±``window`` (mir_eval's definition, without its trim of
    the first 5 s)."""
    reference, estimated = np.sort(np.asarray(reference)), np.sort(np.asarray(estimated))
    if not len(reference) or not len(estimated):
        return 0.0
    used = np.zeros(len(estimated), bool)
    hits = 0
    for beat in reference:
        distance = np.where(used, np.inf, np.abs(estimated - beat))
        j = int(np.argmin(distance))
        if distance[j] <= window:
            used[j] = True
            hits += 1
    precision, recall = hits / len(estimated), hits / len(reference)
    return 0.0 if hits == 0 else 2 * precision * recall / (precision + recall)


PLOT_WIDTH = 1200  # pixels; the height is PLOT_ROW_HEIGHT a row plus PLOT_MARGIN
PLOT_ROW_HEIGHT = 90
PLOT_MARGIN = 70  # title and time axis


def plot_features(
    features: MusicFeatures,
    png_path: str | os.PathLike,
    *,
    extra: dict[str, tuple[list[float], list[float]]] | None = None,
) -> None:
    """Draw the feature curves over time, beats marked, as an image.

    Drawn with matplotlib (the ``plot`` extra): one row per feature (0 to 1) over seconds on
    the source clock, the beats as vertical lines across every row, a title with the beat
    count and tempo; :data:`PLOT_WIDTH` wide, :data:`PLOT_ROW_HEIGHT` a row plus
    :data:`PLOT_MARGIN` high. Written by :func:`dreamvideo.io.write_image`: beside the target
    and renamed into place; the extension picks the format.

    Args:
        features: from :func:`load_music`.
        png_path: where the image goes.
        extra: more rows under the features, name → ``(times in seconds, values)`` (e.g. a
            dream's strength per frame at the frames' times), each from 0 to its own peak.

    Raises:
        ConfigError: matplotlib is not installed.
        MediaError: the file cannot be written.
    """
    from .io import write_image

    write_image(png_path, _draw_features(features, extra or {}))


def _draw_features(features: MusicFeatures, extra: dict[str, tuple[list[float], list[float]]]) -> np.ndarray:
    """The features plot as an RGB image ``uint8 (PLOT_MARGIN + PLOT_ROW_HEIGHT * rows, PLOT_WIDTH, 3)``."""
    from .io.plot import figure_pixels, new_figure

    hop_times = features.start + np.arange(len(features.curves["loudness"])) * features.hop_s
    rows = [(name, hop_times, features.curves[name], True) for name in FEATURES]
    rows += [(name, np.asarray(times, float), np.asarray(values, float), False) for name, (times, values) in extra.items()]
    figure = new_figure(PLOT_WIDTH, PLOT_MARGIN + PLOT_ROW_HEIGHT * len(rows))
    all_axes = figure.subplots(len(rows), 1, sharex=True, squeeze=False)[:, 0]
    colours = [f"C{i}" for i in range(10)]
    for r, (axes, (name, times, values, unit)) in enumerate(zip(all_axes, rows)):
        # One collection a row, in axes height: thousands of beats stay one artist.
        axes.vlines(features.beats, 0, 1, transform=axes.get_xaxis_transform(), colors="#f4b4b4", linewidth=1)
        axes.plot(times, values, color=colours[r % len(colours)], linewidth=1)
        axes.set_ylabel(name, rotation=0, ha="right", va="center")
        top = 1.0
        if not unit and len(values) and np.isfinite(values).any() and np.nanmax(values) > 0:
            top = float(np.nanmax(values))
        # A little room under 0: a curve at 0 stays visible above the axes' frame.
        axes.set_ylim(-0.06 * top, 1.06 * top)
        if unit:
            axes.set_yticks([0, 1])
        else:
            axes.locator_params(axis="y", nbins=2)
        axes.tick_params(labelsize=8)
    all_axes[0].set_xlim(features.start, features.start + max(features.duration, features.hop_s))
    all_axes[-1].set_xlabel("seconds")
    title = f"{os.path.basename(features.source) or 'music'}: {len(features.beats)} beats, about {features.tempo_bpm:.0f} bpm"
    figure.suptitle(title)
    figure.tight_layout(h_pad=0.3)
    return figure_pixels(figure)
