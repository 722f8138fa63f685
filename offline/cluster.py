"""Rendering on Ray (the optional ``[cluster]`` extra): a video's chunks, or a folder's images, as
tasks on actors that load the model once.

Video (``offline render ... --ray``): the driver lists the frame times from the packets
(``video.frame_times``, no decoding), cuts them into the single-process render's chunks, and hands
chunk numbers to workers. A worker decodes its chunk straight from the source (shared storage: no
frames travel through Ray) and writes ``chunk_NNNNN.mp4`` into the work folder, atomically, as
the single-process render does; the driver joins them with the sound. Temporal coherence: a
worker that renders the chunk after the one it just finished carries its state on (the frames are
those of a single-process render); otherwise it first runs the effect on the ``overlap`` frames
before the chunk and throws them away (``render.memory_frames``: enough that the state's
influence falls under half a grey level). Workers take the chunk after their last one when it is
still to do, else the middle of the longest run of chunks nobody has started: few warm-ups, all
workers busy to the end.

A worker that dies (a node lost, a process killed) is restarted by Ray and its chunk retried
(``max_restarts``, ``max_task_retries``): nothing home-made. A chunk file exists only when
complete, so after an interruption ``--resume`` redoes only the missing chunks.
"""

import os
import time
from pathlib import Path

from offline.errors import UserError


def _ray():
    try:
        import ray
    except ImportError:
        raise UserError("Ray is not installed: pip install 'neural-studio[cluster]' (or pip install ray)") from None
    return ray


def check_reachable(address, timeout=5.0):
    """A ``host:port`` cluster address must answer within ``timeout`` seconds: Ray itself retries
    an unreachable one for minutes before it gives up."""
    import socket

    host, sep, port = str(address).replace("ray://", "").rpartition(":")
    if not sep or not port.isdigit():
        return  # "auto", or a form Ray resolves itself
    try:
        socket.create_connection((host or "127.0.0.1", int(port)), timeout=timeout).close()
    except OSError as e:
        raise UserError(f"cannot reach the Ray cluster at {address} within {timeout:.0f} s "
                        f"({e.strerror or type(e).__name__}): is the head node running there?") from None


def connect(address=None, num_cpus=None):
    """Join a running cluster (``address``: host:port or "auto") or start a local one."""
    ray = _ray()
    if ray.is_initialized():
        return ray
    kwargs = {"include_dashboard": False, "log_to_driver": False, "configure_logging": False}
    if address:
        check_reachable(address)
        kwargs["address"] = address
    elif num_cpus:
        kwargs["num_cpus"] = num_cpus
    # the workers import this project from the driver's folder when it is a checkout
    root = str(Path(__file__).resolve().parents[1])
    kwargs["runtime_env"] = {"env_vars": {"PYTHONPATH": os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH"))
                                                                       if p)}}
    try:
        ray.init(**kwargs)
    except (ConnectionError, RuntimeError, ValueError) as e:
        raise UserError(f"cannot reach the Ray cluster at {address}: {str(e).splitlines()[0][:160]}") from None
    return ray


def default_workers(ray):
    """One worker per GPU in the cluster, else one per node (on CPUs a worker already uses all the
    node's cores)."""
    gpus = int(ray.cluster_resources().get("GPU", 0))
    return gpus or max(1, sum(1 for n in ray.nodes() if n.get("Alive")))


class ChunkRenderer:
    """A Ray actor: the effect built once; ``render(k, ...)`` writes chunk ``k``."""

    def __init__(self, settings, weights_dir=None):
        from offline import video
        from offline.render import RenderSettings, build_render_effect

        self.s = RenderSettings(**{**settings, "size": tuple(settings["size"]) if settings.get("size") else None})
        self.info = video.probe(self.s.input)
        self.effect = build_render_effect(self.s.effect, self.s.effect_settings, weights_dir)
        self.next_chunk = None  # the chunk this actor's effect state leads into

    def pid(self):
        return os.getpid()

    def render(self, k, work, times, overlap):
        """Chunk ``k`` of the frames at ``times`` (all of the render's, from the start) into
        ``work``; returns (k, frames written, frames of warm-up)."""
        from offline import video
        from offline.render import _ChunkEncoder, _Prefetch
        from offline.workfolder import WorkFolder

        s, c = self.s, self.s.chunk_frames
        first, stop = k * c, min(len(times), (k + 1) * c)
        begin = first if self.next_chunk == k else max(0, first - overlap)
        if self.next_chunk != k and hasattr(self.effect, "reset"):
            self.effect.reset(begin)
        after = times[begin - 1] if begin > 0 else None
        encoder = _ChunkEncoder(WorkFolder.attach(work), s, self.info, first)
        frames = _Prefetch(video.decode(s.input, s.start, s.duration, s.size, after=after))
        written = warm = 0
        try:
            for frame in frames:
                if frame.time < times[first] - 1e-6:  # warm-up: the state only
                    self.effect(frame.rgb)
                    warm += 1
                    continue
                if stop < len(times) and frame.time >= times[stop] - 1e-6:
                    break
                encoder.put(self.effect(frame.rgb), frame.time)
                written += 1
            frames.stop()
            encoder.finish()
        except BaseException:
            frames.stop()
            encoder.abort()
            self.next_chunk = None
            raise
        self.next_chunk = k + 1
        return k, written, warm


def _next_chunk(todo, started, last):
    """The chunk a worker that just finished ``last`` takes: ``last + 1`` if still to do, else from
    the longest run of chunks that nobody has started: its first when nobody works just before it
    (the video's start, or a finished chunk), else its middle (None: all started)."""
    if last is not None and last + 1 in todo and last + 1 not in started:
        return last + 1
    free = sorted(k for k in todo if k not in started)
    if not free:
        return None
    runs, run = [], [free[0]]
    for k in free[1:]:
        if k == run[-1] + 1:
            run.append(k)
        else:
            runs.append(run)
            run = [k]
    runs.append(run)
    longest = max(runs, key=len)
    return longest[0] if longest[0] == 0 or longest[0] - 1 not in todo else longest[len(longest) // 2]


def render_on_ray(settings, output, work=None, resume=False, fresh=False, address=None, workers=None,
                  overlap=None, weights_dir=None, num_cpus=None, log=print, progress=True, actor_class=None):
    """``offline render --ray``: like ``render.render``, its chunks rendered by Ray workers.
    Returns a ``RenderReport``. ``actor_class``: tests pass a ``ChunkRenderer`` that misbehaves."""
    from offline import video
    from offline.progress import Progress
    from offline.render import RenderReport, join, memory_frames
    from offline.workfolder import WorkFolder, work_folder

    s = settings.check()
    info = video.probe(s.input)
    if info.duration and s.start >= info.duration:
        raise UserError(f"start {s.start:g} s is past the end of {s.input} ({info.duration:.2f} s)")
    times = video.frame_times(s.input, s.start, s.duration)
    if not times:
        raise UserError(f"{s.input} has no frame between {s.start:g} s and "
                        f"{'the end' if s.duration is None else f'{s.start + s.duration:g} s'}")
    overlap = memory_frames(s.effect, s.effect_settings) if overlap is None else int(overlap)
    store = WorkFolder(work_folder(work, output), {**s.to_json(), "ray_overlap": overlap}, resume, fresh)
    count = -(-len(times) // s.chunk_frames)
    todo = set(range(count)) - store.finished()
    if len(todo) < count:
        log(f"resuming: {count - len(todo)} of {count} chunks already finished ({store.folder})")
    ray = connect(address, num_cpus)
    workers = min(len(todo), workers or default_workers(ray)) if todo else 0
    options = {"max_restarts": 3, "max_task_retries": 3}
    if int(ray.cluster_resources().get("GPU", 0)):
        options["num_gpus"] = 1
    Actor = ray.remote(**options)(actor_class or ChunkRenderer)
    settings_json = s.to_json()
    actors = [Actor.remote(settings_json, weights_dir) for _ in range(workers)]
    times_ref = ray.put(times)
    done_frames = sum(min(len(times), (k + 1) * s.chunk_frames) - k * s.chunk_frames for k in range(count) if k not in todo)
    bar = Progress(len(times), unit="frame").start(done=done_frames) if progress else None
    t0, rendered, warmed = time.perf_counter(), 0, 0
    started, running, last = set(), {}, {}

    def submit(actor):
        k = _next_chunk(todo, started, last.get(actor))
        if k is not None:
            started.add(k)
            running[actor.render.remote(k, str(store.folder), times_ref, overlap)] = actor

    try:
        for actor in actors:
            submit(actor)
        while running:
            ready, _ = ray.wait(list(running), num_returns=1)
            actor = running.pop(ready[0])
            try:
                k, written, warm = ray.get(ready[0])
            except ray.exceptions.RayError as e:  # retries exhausted: the chunk stays to do for --resume
                raise UserError(f"a Ray worker failed: {str(e).strip().splitlines()[-1][:200]}; "
                                f"finished chunks are kept: --resume continues") from None
            todo.discard(k)
            last[actor] = k
            done_frames += written
            rendered, warmed = rendered + written, warmed + warm
            if bar:
                bar.update(done_frames)
            submit(actor)
    except BaseException:
        for ref in running:
            ray.cancel(ref, force=True)
        kept = len(store.finished())
        if kept:
            log(f"\nstopped: {kept} finished chunk(s) kept in {store.folder}; the same command with --resume continues")
        raise
    finally:
        for actor in actors:
            ray.kill(actor)
    seconds = time.perf_counter() - t0
    frames, audio_codec, note = join(s, info, store, output)
    report = RenderReport(str(output), frames, rendered, seconds, 0, note, audio_codec)
    report.workers, report.warmup_frames = workers, warmed
    return report


class ImageStylizer:
    """A Ray actor: the stylizer and the styles' statistics built once; ``stylize(jobs)`` does a
    few images (read from and written to shared storage)."""

    def __init__(self, model, styles, style_size=None):
        from offline.stylizers import load_stylizer

        self.stylizer = load_stylizer(model["model_dir"], weights=model["weights"], weights_dir=model["weights_dir"],
                                      precision=model["precision"], refine=model.get("refine", True))
        self.stats = [self.stylizer.style(s, max_side=style_size) for s in styles]

    def pid(self):
        return os.getpid()

    def stylize(self, jobs, options):
        from offline.stylizers import stylize_file

        return [stylize_file(self.stylizer, self.stats, content, target, **options) for content, target in jobs]


def stylize_on_ray(jobs, model, styles, style_size, options, address=None, workers=None, per_task=4,
                   num_cpus=None, progress=True, actor_class=None):
    """``offline adain stylize ... --ray``: ``jobs`` ((content, target) pairs) in tasks of
    ``per_task`` images on actors that load the model once; each output is written atomically, so
    an interrupted batch continues with ``--resume``. Returns the per-image records."""
    from offline.progress import Progress

    if not jobs:
        return []
    ray = connect(address, num_cpus)
    batches = [jobs[i:i + per_task] for i in range(0, len(jobs), per_task)]
    workers = min(len(batches), workers or default_workers(ray))
    options_ = {"max_restarts": 3, "max_task_retries": 3}
    if int(ray.cluster_resources().get("GPU", 0)):
        options_["num_gpus"] = 1
    Actor = ray.remote(**options_)(actor_class or ImageStylizer)
    actors = [Actor.remote(model, styles, style_size) for _ in range(workers)]
    pool = ray.util.ActorPool(actors)
    bar = Progress(len(jobs), unit="image").start() if progress else None
    records = []
    try:
        for done in pool.map_unordered(lambda actor, batch: actor.stylize.remote(batch, options), batches):
            records.extend(done)
            if bar:
                bar.update(len(records))
    except ray.exceptions.RayError as e:
        raise UserError(f"a Ray worker failed: {str(e).strip().splitlines()[-1][:200]}; "
                        f"the images written so far are kept: --resume continues") from None
    finally:
        for actor in actors:
            ray.kill(actor)
    order = {str(target): i for i, (_, target) in enumerate(jobs)}
    return sorted(records, key=lambda r: order.get(r["output"], 0))
