"""The settings of each frame of a run: schedules evaluated at the frame's index, timestamp and music.

:class:`Timeline` is made once per run from the settings (and the soundtrack, when a
schedule reads music features), then gives each frame its dreamer and video settings. It
depends on nothing but the frame (index and timestamp), so a clip rendered in chunks gets
the settings one run gives. Every value used is kept for the run's JSON report.
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Mapping

from .config import AnimateSettings, DreamSettings, VideoSettings
from .dream import Dreamer
from .dream.objectives import objective_from_settings
from .errors import ConfigError
from .io import is_stream
from .io.decode import Frame
from .music import MusicFeatures, load_music
from .schedule import Schedule, evaluate, resolve, schedules_of

__all__ = ["Timeline"]


class Timeline:
    """Per-frame settings of one run.

    Args:
        dream, video: the run's settings, schedules and all.
        rate: the clip's frame rate (frames per second): places time keys among frame keys,
            and is one frame's span when reading the music.
        music: the soundtrack's features, when a schedule reads them.
        animate: the motion of an animation from a still, when there is one.
    """

    def __init__(
        self,
        dream: DreamSettings,
        video: VideoSettings,
        *,
        rate: float,
        music: MusicFeatures | None = None,
        animate: AnimateSettings | None = None,
    ) -> None:
        self.dream, self.video, self.rate, self.music = dream, video, float(rate), music
        self.animate = animate
        self.dream_schedules = schedules_of(dream)
        self.video_schedules = schedules_of(video)
        self.motion_schedules = schedules_of(animate) if animate is not None else {}
        if dream.guide is not None and any(name.startswith("layers:") for name in self.dream_schedules):
            raise ConfigError("scheduled layer weights do not work with --guide", hint="give the layers fixed weights")
        self.values: dict[int, dict[str, float]] = {}  # frame index → the values it was dreamed with

    @property
    def schedules(self) -> dict[str, Schedule]:
        return {**self.dream_schedules, **self.video_schedules, **self.motion_schedules}

    @property
    def features(self) -> frozenset[str]:
        """The music features the schedules read."""
        return frozenset().union(*(s.features for s in self.schedules.values()))

    @classmethod
    def for_run(cls, dream: DreamSettings, video: VideoSettings, reader) -> Timeline | None:
        """The timeline of a run reading ``reader`` (a ``VideoReader``), or None when nothing is scheduled.

        Loads the music (``video.music``, else the input's own soundtrack) when a schedule reads it,
        and warns of keys past the clip's end.

        Raises:
            MediaError: music features asked of an input with no audio (hint: ``--music FILE``).
            ConfigError: music features asked of a stream (``-``, a URL) without ``--music``.
        """
        if not schedules_of(dream) and not schedules_of(video):
            return None
        timeline = cls(dream, video, rate=float(reader.info.rate))
        if timeline.features:
            if video.music is None and is_stream(reader.source):
                raise ConfigError(
                    "a schedule reads music features, and a stream cannot be read twice for its soundtrack",
                    hint="give the soundtrack with --music FILE",
                )
            timeline.music = load_music(video.music or reader.source)
        total = reader.info.frame_count
        if total:
            for name, schedule in timeline.schedules.items():
                if schedule.last_frame(timeline.rate) > total - 1:
                    warnings.warn(
                        f"--{name.replace('_', '-')} schedule {schedule.text!r} has keys past the clip's end "
                        f"(frame {total - 1}); they are never reached"
                    )
        return timeline

    def at(self, index: int, time: float) -> dict[str, float]:
        """The scheduled values at frame ``index`` whose timestamp is ``time`` seconds (kept for the report)."""
        features: Mapping[str, float] | None = None
        if self.music is not None:
            features = self.music.at(time, 1.0 / self.rate)
        values = evaluate(self.schedules, index, time, self.rate, features)
        self.values[index] = values
        return values

    def apply(self, temporal, frame: Frame) -> None:
        """Give ``temporal`` (a ``TemporalDreamer``) the dreamer and video settings of ``frame``."""
        values = self.at(frame.index, frame.time)
        temporal.dreamer = self.dreamer(temporal.dreamer, values)
        temporal.video = self.video_at(values)

    def video_at(self, values: Mapping[str, float]) -> VideoSettings:
        """The video settings with ``values`` (from :meth:`at`) in place of their schedules."""
        return resolve(self.video, {k: v for k, v in values.items() if k in self.video_schedules})

    def motion_at(self, values: Mapping[str, float]) -> AnimateSettings:
        """The motion with ``values`` (from :meth:`at`) in place of its schedules."""
        assert self.animate is not None
        return resolve(self.animate, {k: v for k, v in values.items() if k in self.motion_schedules})

    def dreamer(self, base: Dreamer, values: Mapping[str, float]) -> Dreamer:
        """``base`` (same model, projection, tile) dreaming with ``values`` (from :meth:`at`)."""
        settings = resolve(self.dream, {k: v for k, v in values.items() if k in self.dream_schedules})
        objective = base.objective
        if any(name.startswith("layers:") for name in self.dream_schedules):
            objective = objective_from_settings(settings, base.model)
        dreamer = Dreamer(base.model, objective, settings, grey=base.grey, projection=base.projection)
        dreamer.tile = base.tile
        dreamer.on_step = base.on_step  # the runner's progress inside a frame (Dreamer.reporting_steps)
        return dreamer

    def report(self) -> dict[str, dict]:
        """For the JSON report: each schedule's text, and its value per frame (frame index → value)."""
        return {
            name: {
                "schedule": schedule.text,
                "interpolation": schedule.interpolation,
                "per_frame": {str(i): v[name] for i, v in sorted(self.values.items())},
            }
            for name, schedule in self.schedules.items()
        }
