"""Drum and click tracks with known beat times, generated for the music tests (mono float32)."""

from __future__ import annotations

import numpy as np

RATE = 44100


def _click(rate: int) -> np.ndarray:
    t = np.arange(int(0.02 * rate)) / rate
    return (np.sin(2 * np.pi * 1500 * t) * np.exp(-t / 0.004)).astype(np.float32)


def _kick(rate: int) -> np.ndarray:
    t = np.arange(int(0.15 * rate)) / rate
    sweep = 2 * np.pi * (50 * t + 60 * (1 - np.exp(-t / 0.03)) * 0.03 * 30)
    return (np.sin(sweep) * np.exp(-t / 0.05)).astype(np.float32)


def _snare(rate: int, rng: np.random.Generator) -> np.ndarray:
    t = np.arange(int(0.12 * rate)) / rate
    noise = rng.standard_normal(len(t))
    return ((0.6 * noise + 0.5 * np.sin(2 * np.pi * 190 * t)) * np.exp(-t / 0.04)).astype(np.float32)


def _hat(rate: int, rng: np.random.Generator) -> np.ndarray:
    t = np.arange(int(0.04 * rate)) / rate
    noise = np.diff(rng.standard_normal(len(t) + 1))  # high-passed
    return (0.25 * noise * np.exp(-t / 0.01)).astype(np.float32)


def _add(track: np.ndarray, sound: np.ndarray, at: float, gain: float = 1.0, rate: int = RATE) -> None:
    i = int(round(at * rate))
    n = min(len(sound), len(track) - i)
    if n > 0:
        track[i : i + n] += gain * sound[:n]


def beat_times(bpm: float | list[tuple[float, float]], duration: float, start: float = 0.5) -> np.ndarray:
    """Beats from ``start`` to ``duration``: at ``bpm``, or ``[(from_time, bpm), ...]`` (a tempo change)."""
    changes = [(0.0, bpm)] if isinstance(bpm, (int, float)) else bpm
    beats, t = [], start
    while t < duration - 0.2:
        beats.append(t)
        current = [b for since, b in changes if since <= t + 1e-9][-1]
        t += 60.0 / current
    return np.array(beats)


def click_track(beats: np.ndarray, duration: float, *, rate: int = RATE, gain: float = 0.8) -> np.ndarray:
    track = np.zeros(int(duration * rate), np.float32)
    for beat in beats:
        _add(track, _click(rate), beat, gain, rate)
    return track


def drum_track(
    beats: np.ndarray, duration: float, *, swing: float = 0.5, rate: int = RATE, seed: int = 0, gains: np.ndarray | None = None
) -> np.ndarray:
    """Kick on odd beats, snare on even ones, a hat on each beat and one between (at ``swing`` of the
    interval: 0.5 straight, 0.67 swung), quiet noise under it all."""
    rng = np.random.default_rng(seed)
    track = 0.003 * rng.standard_normal(int(duration * rate)).astype(np.float32)
    kick, snare, hat = _kick(rate), _snare(rate, rng), _hat(rate, rng)
    for i, beat in enumerate(beats):
        g = 1.0 if gains is None else gains[i]
        _add(track, kick if i % 2 == 0 else snare, beat, 0.7 * g, rate)
        _add(track, hat, beat, 0.5 * g, rate)
        interval = beats[i + 1] - beat if i + 1 < len(beats) else beats[i] - beats[i - 1]
        _add(track, hat, beat + swing * interval, 0.35 * g, rate)
    return track


def write_audio(path, samples: np.ndarray, *, rate: int = RATE, codec: str = "pcm_s16le") -> None:
    """``samples`` (mono float) into an audio file with PyAV (``.wav``; ``aac`` into ``.m4a``)."""
    import av

    with av.open(str(path), "w") as out:
        stream = out.add_stream(codec, rate=rate, layout="mono")
        fmt = "s16" if codec == "pcm_s16le" else "fltp"
        data = np.clip(samples, -1, 1)
        data = (data * 32767).astype(np.int16) if fmt == "s16" else data.astype(np.float32)
        for i in range(0, len(data), 1024):
            frame = av.AudioFrame.from_ndarray(data[None, i : i + 1024], format=fmt, layout="mono")
            frame.rate, frame.pts = rate, i
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)


def write_video_with_audio(path, frames: list[np.ndarray], samples: np.ndarray, *, fps=None, rate: int = RATE) -> None:
    """An H.264 MP4 of ``frames`` at ``fps`` (a Fraction, default 30000/1001) with ``samples`` as AAC."""
    from fractions import Fraction

    import av

    fps = fps or Fraction(30000, 1001)
    with av.open(str(path), "w") as out:
        video = out.add_stream("libx264", rate=fps)
        video.height, video.width = frames[0].shape[:2]
        video.pix_fmt = "yuv420p"
        video.options = {"crf": "12"}
        audio = out.add_stream("aac", rate=rate, layout="mono")
        for frame in frames:
            for packet in video.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                out.mux(packet)
        for packet in video.encode():
            out.mux(packet)
        data = samples.astype(np.float32)
        for i in range(0, len(data), 1024):
            chunk = av.AudioFrame.from_ndarray(data[None, i : i + 1024], format="fltp", layout="mono")
            chunk.rate, chunk.pts = rate, i
            for packet in audio.encode(chunk):
                out.mux(packet)
        for packet in audio.encode():
            out.mux(packet)
