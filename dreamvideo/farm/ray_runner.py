"""Run the chunks of a dream as Ray tasks, then assemble.

Needs the optional extra: ``pip install 'dreamvideo[farm]'``. Without ``address``
the job starts its own local Ray instance (Ray's ``address="local"``, whatever
Ray recorded on the machine or ``RAY_ADDRESS`` says) and stops it again. With
one, the tasks go to that cluster, whose workers must have dreamvideo and see
the same paths; it is asked first (``check_cluster``), so a cluster that cannot
be reached or refuses this client is an error within seconds. Ray 2.60 clusters
use token authentication: the client reads the token from ``RAY_AUTH_TOKEN`` (or
the file ``RAY_AUTH_TOKEN_PATH``, default ``~/.ray/auth_token``) when
``RAY_AUTH_MODE=token``. A failed chunk is tried again (``retries``): its complete
frames are kept, and a retry renders only what is missing, bit-identical to a
first try.
"""

from __future__ import annotations

import os
import socket
import sys
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from ..config import DreamSettings, FrameRange, VideoSettings
from ..errors import ConfigError, DreamVideoError, MediaError
from ..io import check_input_file, check_output_path, open_video
from ..render import assemble, prepare_render, record_chunks, render_frames
from .plan import Chunk, chunk_progress, frames_folder, parse_frame_ranges, plan_chunks, progress_total

__all__ = ["FarmResult", "check_cluster", "render_chunk", "run_on_ray"]

CLUSTER_TIMEOUT_S = 5.0  # how long the cluster has to answer before the job is refused
TOKEN_HINT = (
    "the cluster uses token authentication: run with RAY_AUTH_MODE=token and RAY_AUTH_TOKEN=<the head's token> "
    "(or RAY_AUTH_TOKEN_PATH=<a file holding it>; `ray get-auth-token` on the head prints it)"
)


@dataclass
class FarmResult:
    """What a farm run did: frames assembled, chunks run, where the (final) frames are."""

    frames: int
    chunks: int
    work: Path


def render_chunk(
    source: str, work: str, chunk: Chunk, dream: DreamSettings, video: VideoSettings, bit_depth: int
) -> int:
    """The call each task runs: render one chunk (resuming); returns the frames it wrote."""
    result = render_frames(source, work, chunk.frames, dream, video, preroll=chunk.preroll, bit_depth=bit_depth)
    return len(result.written)


def check_cluster(address: str, *, timeout: float = CLUSTER_TIMEOUT_S) -> None:
    """Ask the Ray cluster at ``address`` (``HOST:PORT`` of its head) whether it takes this client.

    One TCP connection (within ``timeout`` seconds), then Ray's own GCS client asks the
    head for its cluster id with this client's token, which a head with token
    authentication answers at once: ``ray.init`` itself retries a refused or missing
    cluster for tens of seconds to minutes. A ``ray://`` (Ray Client) address is left to Ray.

    Raises:
        ConfigError: a malformed address; the cluster refused this client's token.
        MediaError: nothing answers at ``address``.
    """
    if "://" in address:
        return
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise ConfigError(
            f"--address {address} is not HOST:PORT",
            hint="give the head's address as `ray start --head` printed it, e.g. 10.0.0.5:6379",
        )
    try:
        socket.create_connection((host, int(port)), timeout=timeout).close()
    except OSError as e:
        raise MediaError(
            f"no Ray cluster answers at {address}: {e.strerror or e}",
            hint="start one with `ray start --head --port PORT` on the head node, "
            "or leave --address out to run on a local instance",
        ) from None
    from ray._raylet import GcsClient
    from ray.exceptions import AuthenticationError

    try:
        GcsClient(address=address)  # asks the head for its cluster id, with this client's token
    except AuthenticationError as e:
        details = str(e).split(". ")[0]
        raise ConfigError(f"the Ray cluster at {address} refused this client: {details}", hint=TOKEN_HINT) from None
    except Exception as e:  # noqa: BLE001 - anything else the client reports: not a Ray head that takes us
        raise MediaError(
            f"the Ray cluster at {address} does not answer as a Ray head: {str(e).splitlines()[0] if str(e) else type(e).__name__}",
            hint="check the address and port (`ray status` on the head shows them)",
        ) from None


def _job_range(source: str, frames: str | None, video: VideoSettings) -> FrameRange:
    if frames is not None:
        ranges = parse_frame_ranges(frames)
        if len(ranges) != 1:
            raise ConfigError("farm ray takes one frame range A-B")
        return ranges[0]
    with open_video(source, size=video.frame_size, width=video.width) as reader:
        count = reader.info.frame_count
    if not count:
        raise ConfigError(f"the frame count of {source} is not recorded", hint="give --frames A-B")
    return FrameRange(0, count - 1)


def run_on_ray(
    source: str,
    output: str,
    *,
    chunk: int,
    dream: DreamSettings,
    video: VideoSettings,
    frames: str | None = None,
    preroll: int = 8,
    bit_depth: int = 8,
    address: str | None = None,
    gpus_per_task: float | None = None,
    retries: int = 2,
    work: str | os.PathLike | None = None,
    task: Callable[..., int] = render_chunk,
) -> FarmResult:
    """Render ``frames`` (default: the whole clip) of ``source`` in chunks on Ray, then assemble ``output``.

    ``address``: a cluster's head (``HOST:PORT``); None starts a local instance (an
    instance already started in this process is used). ``gpus_per_task``: GPUs each
    task asks Ray for (0: CPU tasks; default 1 where the cluster has GPUs, else 0).
    ``task`` is what each Ray task calls, with ``render_chunk``'s arguments (a wrapper
    can add logging or, in the tests, a failure). Progress (chunks and frames of the
    job) goes to stderr as each chunk ends, unless ``video.quiet``. The PNG sequence in
    ``work`` is final after assembly (the joins written back).

    Raises:
        ConfigError: Ray is missing, bad range/chunk/pre-roll/GPUs, a work folder of another
            render, a cluster that refuses this client.
        MediaError: no cluster at ``address``, a chunk failed on every try (complete frames
            stay; rerun to resume), assembly failed.
    """
    try:
        import ray
    except ImportError:
        raise ConfigError("the Ray runner needs Ray", hint="pip install 'dreamvideo[farm]'") from None
    if retries < 0:
        raise ConfigError("--retries must not be negative")
    if gpus_per_task is not None and gpus_per_task < 0:
        raise ConfigError("--gpus-per-task must not be negative")
    check_input_file(source)
    check_output_path(source, output)
    span = _job_range(source, frames, video)
    chunks = plan_chunks(span, chunk, preroll=preroll)
    work = Path(work) if work is not None else frames_folder(output)
    quiet = video.quiet
    video = replace(video, quiet=True, json_report=None)  # each task's own output would interleave
    started_here = not ray.is_initialized()
    if started_here and address is not None:
        check_cluster(address)
    prepare_render(source, work, [span], dream, video, bit_depth=bit_depth)  # refuse early, not in every task
    record_chunks(work, [c.frames for c in chunks], preroll=preroll)  # `farm status` shows the chunks waiting too

    if started_here:
        try:
            ray.init(
                address=address or "local", include_dashboard=False, log_to_driver=False, logging_level="ERROR"
            )
        except ConnectionError as e:
            if address is None:
                raise
            # refused after the check: a token or Ray version mismatch
            raise MediaError(f"cannot join the Ray cluster at {address}: {e}", hint=TOKEN_HINT) from None
    try:
        gpus = gpus_per_task if gpus_per_task is not None else (1 if ray.cluster_resources().get("GPU", 0) > 0 else 0)
        remote = ray.remote(
            num_gpus=gpus, num_cpus=0 if gpus else 1, max_retries=retries, retry_exceptions=True
        )(task)
        pending = {
            remote.remote(str(Path(source).resolve()), str(work.resolve()), c, dream, video, bit_depth): c
            for c in chunks
        }
        failures = []
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1)
            for ref in done:
                c = pending.pop(ref)
                state = "done"
                try:
                    ray.get(ref)
                except Exception as exc:  # after every retry: a RayTaskError wrapping the task's exception
                    failures.append((c, exc))
                    state = "failed"
                if not quiet:
                    total = progress_total(chunk_progress(work, chunks))
                    print(f"chunk {c.number + 1}/{len(chunks)} (frames {c}) {state}: {total}", file=sys.stderr, flush=True)
    finally:
        if started_here:
            ray.shutdown()
    if failures:
        c, exc = failures[0]
        cause = exc.cause if hasattr(exc, "cause") and exc.cause is not None else exc
        reason = str(cause).splitlines()[0] if str(cause) else type(cause).__name__
        raise MediaError(
            f"{len(failures)} of {len(chunks)} chunks failed after {retries + 1} tries; "
            f"chunk {c.number + 1}/{len(chunks)} (frames {c}): {reason}",
            hint=f"rerun the same command: the frames already in {work} are kept",
        ) from (cause if isinstance(cause, DreamVideoError) else None)
    assembled = assemble(work, output, source=source, frames=span)
    return FarmResult(frames=assembled.frames, chunks=len(chunks), work=work)
