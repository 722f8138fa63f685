"""``realtime``: the per-frame loop on a camera, a video file, a folder of images or a demo source.
Argument parsing and wiring only; TensorFlow is imported only by the effects that need it."""

import json
import logging
import os
import sys
import time

import click

from offline.options import FloatRange

from offline.commands import outputs
from offline.errors import UserError
from offline.commands.effects import build_effect_from_options as _effect, effect_options, target_fps_option

log = logging.getLogger("realtime")


def _setup_logging(log_file=None, quiet=False):
    handlers = [logging.StreamHandler(sys.stderr)]
    if log_file:
        handlers.append(logging.FileHandler(log_file))
    logging.basicConfig(level=logging.WARNING if quiet else logging.INFO, handlers=handlers, force=True,
                        format="%(asctime)s %(levelname)s %(message)s")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="neural-studio")
def main():
    """Run an effect on live video: a camera, a video file, a folder of images, or a demo pattern.

    \b
    Examples:
      realtime run --source demo --effect stylize            # no camera needed
      realtime run --source 0 --effect features --fullscreen
      realtime run --source clip.mp4 --no-display --max-frames 100 --out styled.mp4
      realtime run --source 0 --install --cycle 60           # a gallery wall, for days
      realtime run --source latent:dcgan --effect stylize    # a GAN dreams garments, painted
      realtime bench --source clip.mp4 --effect stylize --size 640x360 --frames 100

    \b
    \b
    Keys (window):
    {keys}
    """


@main.command()
@click.option("--source", default="0", show_default=True,
              help="Camera index, video file, folder of images, demo, or latent:MODEL[:ROWS] (a generator's latent walk).")
@effect_options
@click.option("--out", type=outputs.OutputFile((".mp4",), "recording"), default=None,
              help="Record to this MP4 from the start (key r stops and starts again).")
@click.option("--display/--no-display", default=True, show_default=True,
              help="Show a window; --no-display runs headless (servers, tests).")
@click.option("--fullscreen", is_flag=True, help="Start full screen (key f toggles).")
@click.option("--hud/--no-hud", default=True, show_default=True, help="Overlay FPS, latency, effect and style.")
@click.option("--max-frames", type=click.IntRange(1), default=None, help="Stop after this many frames.")
@click.option("--cycle", type=FloatRange(min=0, min_open=True), default=None, metavar="SECONDS",
              help="Next style (features: next layer) every SECONDS.")
@click.option("--show", "show_file", type=click.Path(dir_okay=False), default=None, metavar="SHOW.toml",
              help="Play a show file: a looped timeline of scenes (styles, mixes, alpha, durations, fades, "
                   "time-of-day windows), reloaded when edited. See docs/live.md.")
@click.option("--audio", "audio_spec", default=None, metavar="FILE.wav|DEVICE",
              help="Sound drives the picture: loudness to alpha (0.3..1), or as the show file's [audio] says "
                   "(alpha, the mix of two styles, the next scene on each onset). A sound card needs the audio extra.")
@click.option("--fade", type=FloatRange(0), default=None, metavar="SECONDS",
              help="Cross-fade every style change over SECONDS (0: a cut) [2 with --install, else 0].")
@click.option("--install", is_flag=True,
              help="Installation mode: full screen, --loop, style cycle (default 60 s) with 2 s cross-fades, "
                   "hidden cursor, log file, never exits on a transient error.")
@click.option("--log", "log_file", type=outputs.OutputFile(None, "log file"), default=None,
              help="Also log to this file [installation mode: realtime.log].")
@click.option("--snapshot-dir", type=outputs.OutputFolder("snapshot folder"), default=".", show_default=True,
              help="Where space saves PNG snapshots (and r records when --out is not given).")
@click.option("--json", "as_json", is_flag=True, help="Print the run's statistics as JSON at the end.")
@click.option("--serve", default=None, metavar="[HOST:]PORT",
              help="A web page with the live stream and controls (127.0.0.1:8765 is the default host; "
                   "another host needs the token).")
@click.option("--token", default=None, help="The web page's token [generated and printed when bound beyond loopback].")
@click.option("--max-viewers", type=click.IntRange(1), default=20, show_default=True, help="Web streams at once.")
@click.option("--virtual-camera", is_flag=True,
              help="Also send the output to a virtual webcam (v4l2loopback on Linux, OBS's on Windows/macOS).")
@click.option("--osc", default=None, metavar="[HOST:]PORT",
              help="Listen for OSC control messages (/style, /alpha, /effect, /record, /snapshot) on this UDP "
                   "port (on 127.0.0.1 unless HOST says otherwise; then --osc-allow names the senders).")
@target_fps_option("30 for cameras, demo and latent sources and --install; off for files and folders")
@click.option("--osc-allow", default=None, metavar="IP[,IP|NETWORK...]|any",
              help="The OSC senders obeyed when --osc listens beyond this machine (e.g. 192.168.1.0/24).")
def run(source, out, display, fullscreen, hud, max_frames, cycle, show_file, audio_spec, fade, install, log_file, snapshot_dir, as_json, serve,
        token, max_viewers, virtual_camera, osc, osc_allow, target_fps, **o):
    """Capture -> effect -> window and/or MP4, one frame at a time."""
    from realtime.loop import run as run_loop
    from realtime.sinks import Recorder, Window, rss_mb
    from realtime.sources import LatestFrame, open_source

    show = _show_file(show_file, o, cycle) if show_file else None  # checked before anything opens
    sound = None
    if audio_spec is not None:
        from realtime.audio import Analysis, open_audio

        if o["effect"] != "stylize":
            raise UserError("--audio drives the stylize effect: leave out --effect or use --effect stylize")
        mapping = dict(show.audio) if show else {}
        envelope = {k: mapping.pop(k) for k in ("attack", "release") if k in mapping}
        sound = (open_audio(audio_spec, Analysis(**envelope)), {"alpha": (0.3, 1.0), **mapping})
    if install:
        fullscreen, o["loop"] = True, True
        cycle = cycle or (None if show else 60.0)
        fade = 2.0 if fade is None else fade
        log_file = log_file or "realtime.log"
    outputs.check_not_inputs([out, log_file], [source])
    _setup_logging(log_file, quiet=as_json)
    if display and sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        raise UserError("no display (DISPLAY is not set): run with --no-display, e.g. with --out FILE.mp4")
    address = None
    if serve is not None:
        from realtime.web import _aiohttp, parse_address

        address = parse_address(serve)
        _aiohttp()  # the extra is installed, before any model loads
    osc_address = osc_senders = None
    if osc is not None:
        from realtime.osc import _osc, check_allow, parse_address as osc_address_of

        osc_address = osc_address_of(osc)
        osc_senders = check_allow(osc_address[0], osc_allow)
        _osc()
    elif osc_allow is not None:
        raise UserError("--osc-allow goes with --osc HOST:PORT")
    if virtual_camera:
        from realtime.virtualcam import _pyvirtualcam

        _pyvirtualcam()
    if not as_json:
        click.echo(f"loading {o['effect']} ...", err=True)  # the first seconds are no black screen
    effect = _effect(o)  # bad styles, weights or models fail here, before anything opens
    if hasattr(effect, "fade"):
        effect.fade = fade or 0.0
    src = open_source(source, o["size"], loop=o["loop"], fps=o["fps"], camera_wait=float("inf") if install else 5.0)
    if target_fps is None:  # live sources hold the rate; a file is rendered at one size throughout
        target_fps = 30.0 if install or not (os.path.isfile(source) or os.path.isdir(source)) else 0.0
    effect = _scaled(effect, src.size, o["process_size"], target_fps)
    if not as_json:
        click.echo(f"compiling the effect for {src.size[0]}x{src.size[1]} ...", err=True)
    seconds = effect.warmup(src.size)  # compile for this frame shape and run once: no stall on frame 1
    traces = effect.traces
    log.info("%s at %dx%d: %s, warm-up %.1f ms/frame", src.name, *src.size, effect.label(), 1000 * seconds)
    fps = src.fps or 30.0
    if seconds > 0:  # record at the rate frames really come out, so a slow effect does not play fast
        fps = max(1.0, min(fps, round(1.0 / seconds)))
    recorder = Recorder(out or os.path.join(snapshot_dir, time.strftime("realtime-%Y%m%d-%H%M%S.mp4")), fps)
    window = Window(fullscreen=fullscreen, hide_cursor=install) if display else None
    controls, publishers = [], []
    rss_start = rss_mb()[0]
    try:
        if address is not None:
            from realtime.web import WebServer

            server = WebServer(*address, token=token, max_clients=max_viewers,
                               thumbnails=getattr(effect, "thumbnails", None)).start()
            controls.append(server)
            publishers.append(server)
            log.info("web page: %s", server.url)
            if not as_json:
                click.echo(f"web page: {server.url}", err=True)
        if virtual_camera:
            from realtime.virtualcam import VirtualCamera

            camera = VirtualCamera(fps).open(src.size)  # no backend: one line now, not at the first frame
            controls.append(camera)  # (for stop(); it asks for nothing)
            publishers.append(camera)
        player = None
        if show is not None:
            from realtime.showfile import ShowPlayer

            player = ShowPlayer(show, effect, known_styles=_presets(o)).listen_for_sighup()
            controls.append(player)
            player.poll()  # the first scene is on the first frame
        if sound is not None:
            from realtime.audio import AudioControl

            controls.append(AudioControl(sound[0].start(), effect, player=player, **sound[1]))
            log.info("sound from %s drives %s", sound[0].name, ", ".join(k for k, v in sound[1].items() if v))
        if osc_address is not None:
            from realtime.osc import OscControl

            controls.append(OscControl(osc_address[1], host=osc_address[0], allow=osc_senders).start())
            log.info("OSC on UDP %s:%d", *osc_address)
        with LatestFrame(src, pace=o["fps"] != 0) as capture:
            stats = run_loop(capture, effect, window=window, recorder=recorder, record=out is not None,
                             max_frames=max_frames, cycle=cycle, hud=hud, snapshot_dir=snapshot_dir,
                             resilient=install, controls=controls, publishers=publishers)
    finally:
        for control in controls:
            control.stop()
        if window is not None:
            window.close()
    rss_end, rss_peak = rss_mb()
    summary = {**stats.summary(), "stopped": stats.stopped, "captured": capture.captured,
               "dropped": capture.dropped, "effect": effect.label(), "size": list(src.size),
               "retraces": effect.traces - traces, "recorded": [str(p) for p in recorder.files],
               **_scaling(effect),
               "rss_start_mb": round(rss_start, 1), "rss_end_mb": round(rss_end, 1), "rss_peak_mb": round(rss_peak, 1)}
    if as_json:
        click.echo(json.dumps(summary))
    else:
        click.echo(f"{summary['frames']} frames, {summary['fps']} FPS, latency p50 {summary['latency_p50_ms']} ms, "
                   f"dropped {summary['dropped']}, stopped by {summary['stopped']}"
                   + (f", recorded {', '.join(summary['recorded'])}" if summary["recorded"] else ""))
    if stats.stopped in ("ctrl-c", "sigterm"):
        sys.exit(130)  # interrupted, whichever way: the recording was finalised all the same


@main.command()
@click.option("--source", default="demo", show_default=True, help="Video file, folder, camera index, demo or latent:MODEL[:ROWS].")
@effect_options
@target_fps_option("off")
@click.option("--frames", type=click.IntRange(2), default=100, show_default=True, help="Frames to time.")
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON.")
def bench(source, frames, as_json, target_fps, **o):
    """Model-only FPS, end-to-end FPS, latency percentiles, dropped frames, peak memory.

    Model-only: the compiled model call on one frame, back to back. End to end: the headless loop
    with the capture thread, the source paced at its own frame rate (--fps to change it)."""
    from realtime.benchmark import benchmark

    _setup_logging(quiet=True)
    effect = _effect(o)
    scale = lambda e, size: _scaled(e, size, o["process_size"], target_fps or 0.0)  # noqa: E731
    result = benchmark(effect, source, frames, size=o["size"], fps=o["fps"], loop=True, scale=scale)
    if as_json:
        click.echo(json.dumps(result))
    else:
        for k, v in result.items():
            click.echo(f"{k:>18}: {v}")
        click.echo("model_fps: the compiled effect on one frame, back to back (the mean of a run before and one after "
                   "the loop); e2e_fps: frames out of the whole loop (capture thread, effect, output) in the same "
                   "run: measured at other moments, so on a busy machine e2e can read a little above model.")


@main.command()
@click.option("--camera", default="0", show_default=True, metavar="INDEX|none",
              help="The camera the show will use; none: a show of files or the demo.")
@click.option("--display/--no-display", default=True, show_default=True,
              help="Whether the show needs a screen (--no-display: web page, recording or virtual camera only).")
def doctor(camera, display):
    """Is this machine ready for a show? One line per check (camera, display, accelerator, models,
    weights, extras) with what to fix; exit 0 when nothing needs fixing, else 1."""
    from realtime.doctor import FIX, run_checks

    if camera.lower() == "none":
        index = None
    elif camera.isdigit():
        index = int(camera)
    else:
        raise UserError(f"--camera: expected a camera index or none, got {camera!r}")
    checks = run_checks(camera=index, display=display)
    for status, line in checks:
        click.echo(f"{status:>4}  {line}")
    problems = sum(status == FIX for status, _ in checks)
    click.echo("ready for a show" if not problems else f"{problems} thing(s) to fix before a show")
    sys.exit(1 if problems else 0)


def _presets(o):
    """The names of the stylize model's presets, read from its folder (no model loads)."""
    from offline import backend
    from offline.stylizers import resolve_model

    folder = resolve_model(o.get("model"), backend.has_gpu())
    return {p.stem for p in (folder / "styles").glob("*.npz")}


def _show_file(path, o, cycle):
    """The show file, checked (before any model loads); its styles become the effect's."""
    from realtime.showfile import load

    if o["effect"] != "stylize":
        raise UserError("--show plays stylize scenes: leave out --effect or use --effect stylize")
    if o.get("style"):
        raise UserError("--show names its styles in the show file: leave out --style")
    if cycle:
        raise UserError("--show times its scenes itself: leave out --cycle")
    show = load(path, _presets(o))
    o["style"] = show.styles
    return show


def _scaled(effect, frame_size, process_size, target_fps):
    """The effect at a processing size (``--process-size``; None: the frame's), upsampled to the
    frame's, on a ladder of sizes when ``target_fps`` asks for a rate (``realtime.scale``)."""
    from realtime.scale import ScaledEffect, fit, ladder

    if effect.name == "none":
        return effect
    top = process_size or frame_size
    rungs = ladder(frame_size, top) if target_fps else [fit(frame_size, top)]
    if len(rungs) == 1 and rungs[0] == tuple(frame_size):
        return effect  # one size, the frame's own: nothing to scale
    return ScaledEffect(effect, rungs, target_fps or None)


def _scaling(effect):
    """The run summary's processing-size fields (``ScaledEffect``), or none."""
    if not hasattr(effect, "rungs"):
        return {}
    return {"process_size": list(effect.process_size), "process_sizes": [list(r) for r in effect.rungs],
            "size_moves": effect.controller.moves if effect.controller else 0}


def _keys_help():
    from offline.effects import FeaturesEffect, StylizeEffect
    from realtime.keys import help_text

    return help_text([("stylize", StylizeEffect.keys), ("features", FeaturesEffect.keys)])


main.help = main.help.replace("{keys}", _keys_help().replace("\n", "\n    "))


def run_cli():
    """The ``realtime`` console script (``offline.commands.entry``: chatter filtered, exit codes)."""
    from offline.commands.entry import console

    console(main)

