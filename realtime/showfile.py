"""Show files: a looped timeline of stylize scenes for installations (``realtime run --show``).

    fade = 2                      # seconds into each scene, unless the scene says otherwise

    [[scene]]
    name = "muse"
    style = "la_muse"             # a preset, or an image file (relative to this file)
    alpha = 0.9
    duration = 60                 # seconds on screen, the fade included

    [[scene]]
    name = "blend"
    style = ["mondrian", "la_muse"]
    weights = [0.7, 0.3]          # mixed style codes (default: equal)
    smooth = 0.5
    duration = 30
    fade = 5

    [[schedule]]                  # optional: time-of-day windows, first match wins
    from = "18:00"
    to = "23:00"                  # may pass midnight ("22:00" to "06:00")
    scenes = ["blend"]
    [[schedule]]                  # no from/to: the rest of the day
    scenes = ["muse", "blend"]

Read with the standard library's ``tomllib``. ``parse`` checks everything it can without a model
(names, numbers, presets and image files that exist, times) and names the file's line in its
one-line error. ``ShowPlayer`` runs it in the frame loop as a control: it switches scenes on time,
and reloads the file when it changes (or on SIGHUP); a broken edit is logged once and the show
goes on with the last good file.
"""

import dataclasses
import datetime
import logging
import math
import os
import re
import signal
import time
from pathlib import Path

from offline.errors import UserError

log = logging.getLogger("realtime")

SCENE_KEYS = {"name", "style", "weights", "alpha", "smooth", "duration", "fade"}
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")


@dataclasses.dataclass(frozen=True)
class Scene:
    name: str
    styles: tuple  # names (presets) or image paths, as the effect knows them
    weights: tuple
    alpha: float = 1.0
    smooth: float = None  # None: the run's --smooth
    duration: float = 60.0
    fade: float = 2.0


@dataclasses.dataclass(frozen=True)
class Window:
    start: int  # minutes after midnight; None with end None: the whole day
    end: int
    scenes: tuple  # indices into ShowFile.scenes

    def holds(self, minute):
        if self.start is None:
            return True
        if self.start <= self.end:
            return self.start <= minute < self.end
        return minute >= self.start or minute < self.end  # past midnight


@dataclasses.dataclass(frozen=True)
class ShowFile:
    path: Path
    scenes: tuple
    schedule: tuple  # Windows; empty: every scene in order, all day
    sources: dict = dataclasses.field(default_factory=dict)  # style name -> what the effect loads (a preset, an image)
    audio: dict = dataclasses.field(default_factory=dict)  # [audio]: what the sound drives (realtime.audio)

    def scenes_at(self, when):
        """The scene indices playing at ``when`` (a datetime): the first window that holds it."""
        minute = when.hour * 60 + when.minute
        for window in self.schedule:
            if window.holds(minute):
                return window.scenes
        return tuple(range(len(self.scenes))) if not self.schedule else ()

    @property
    def styles(self):
        """What the effect loads for the scenes (``--style`` values: presets, image files), once each."""
        return tuple(self.sources.values())


class _Lines:
    """Where a key of the n-th ``[[table]]`` is in the file's text, for error messages."""

    def __init__(self, text):
        self.lines = text.splitlines()

    def of(self, table=None, index=0, key=None):
        start, seen = 0, -1
        if table is not None:
            header = re.compile(r"^\s*\[\[?\s*" + re.escape(table) + r"\s*\]\]?")
            for i, line in enumerate(self.lines):
                if header.match(line):
                    seen += 1
                    if seen == index:
                        start = i
                        break
        if key is None:
            return start + 1
        pattern = re.compile(r"^\s*" + re.escape(key) + r"\s*=")
        for i in range(start + (table is not None), len(self.lines)):
            if table is not None and i > start and re.match(r"^\s*\[", self.lines[i]):
                break
            if pattern.match(self.lines[i]):
                return i + 1
        return start + 1


def _minutes(text):
    m = re.fullmatch(r"(\d{1,2}):(\d{2})", str(text).strip())
    if not m or int(m.group(1)) > 24 or int(m.group(2)) > 59 or int(m.group(1)) * 60 + int(m.group(2)) > 1440:
        raise ValueError(f"expected a time of day HH:MM, got {text!r}")
    return int(m.group(1)) * 60 + int(m.group(2))


def _number(value, key, low, high=math.inf):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{key}: expected a number, got {value!r}")
    if not low <= value <= high:
        raise ValueError(f"{key}: {value} is outside {low}..{high if high != math.inf else 'any'}")
    return float(value)


def parse(text, path="show.toml", known_styles=None):
    """The show in ``text`` (from ``path``), checked; a mistake is a UserError naming path:line.
    ``known_styles``: names that need no file (the model's presets); None: any name passes."""
    import tomllib

    path = Path(path)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        where = re.search(r"line (\d+)", str(e))
        raise UserError(f"{path}:{where.group(1) if where else '?'}: not valid TOML ({str(e).split(' (at')[0]})") from None
    lines = _Lines(text)

    def fail(message, table=None, index=0, key=None):
        raise UserError(f"{path}:{lines.of(table, index, key)}: {message}")

    unknown = set(data) - {"fade", "scene", "schedule", "audio"}
    if unknown:
        key = sorted(unknown)[0]
        fail(f"unknown setting {key!r} (a show file has fade, [[scene]], [[schedule]] and [audio])", key=key)
    try:
        default_fade = _number(data.get("fade", 2.0), "fade", 0, 3600)
    except ValueError as e:
        fail(str(e), key="fade")
    raw_scenes = data.get("scene", [])
    if not isinstance(raw_scenes, list) or not raw_scenes:
        fail("no scenes: add at least one [[scene]] with a style")
    scenes, names, sources = [], {}, {}
    for i, raw in enumerate(raw_scenes):
        name = raw.get("name", f"scene {i + 1}")
        unknown = set(raw) - SCENE_KEYS
        if unknown:
            key = sorted(unknown)[0]
            fail(f"scene {name!r}: unknown setting {key!r} (a scene has {', '.join(sorted(SCENE_KEYS))})", "scene", i, key)
        if not isinstance(name, str) or not name.strip():
            fail(f"scene {i + 1}: name must be text", "scene", i, "name")
        if name in names:
            fail(f"scene {i + 1}: the name {name!r} is taken by scene {names[name] + 1}", "scene", i, "name")
        names[name] = i
        style = raw.get("style")
        styles = [style] if isinstance(style, str) else style
        if not isinstance(styles, list) or not styles or not all(isinstance(s, str) and s for s in styles):
            fail(f"scene {name!r}: style must be a style's name or a list of them", "scene", i, "style")
        loads = [_style(s, path, known_styles, lambda m: fail(f"scene {name!r}: {m}", "scene", i, "style"))
                 for s in styles]
        styles = [Path(s).stem if Path(s).suffix.lower() in IMAGE_SUFFIXES else s for s in loads]  # as the effect names them
        for style, spec in zip(styles, loads):
            if sources.setdefault(style, spec) != spec:
                fail(f"scene {name!r}: two styles are called {style!r} ({sources[style]} and {spec})", "scene", i, "style")
        weights = raw.get("weights", [1.0] * len(styles))
        try:
            if not isinstance(weights, list) or len(weights) != len(styles):
                raise ValueError(f"weights: expected {len(styles)} numbers, one per style")
            weights = [_number(w, "weights", 0) for w in weights]
            if sum(weights) <= 0:
                raise ValueError("weights: at least one must be above 0")
        except ValueError as e:
            fail(f"scene {name!r}: {e}", "scene", i, "weights")
        values = {}
        for key, low, high, default in (("alpha", 0, 1, 1.0), ("smooth", 0, 0.99, None), ("duration", 0.1, 10 ** 7, 60.0),
                                        ("fade", 0, 3600, default_fade)):
            try:
                values[key] = _number(raw[key], key, low, high) if key in raw else default
            except ValueError as e:
                fail(f"scene {name!r}: {e}", "scene", i, key)
        total = sum(weights)
        scenes.append(Scene(name, tuple(styles), tuple(w / total for w in weights), **values))
    schedule = []
    raw_schedule = data.get("schedule", [])
    if not isinstance(raw_schedule, list):
        fail("schedule: expected [[schedule]] tables", key="schedule")
    for i, raw in enumerate(raw_schedule):
        unknown = set(raw) - {"from", "to", "scenes"}
        if unknown:
            key = sorted(unknown)[0]
            fail(f"schedule {i + 1}: unknown setting {key!r} (a window has from, to and scenes)", "schedule", i, key)
        if ("from" in raw) != ("to" in raw):
            fail(f"schedule {i + 1}: give both from and to, or neither (the rest of the day)", "schedule", i)
        start = end = None
        for key in ("from", "to"):
            if key in raw:
                try:
                    minutes = _minutes(raw[key])
                except ValueError as e:
                    fail(f"schedule {i + 1}: {key}: {e}", "schedule", i, key)
                start, end = (minutes, end) if key == "from" else (start, minutes)
        listed = raw.get("scenes")
        if not isinstance(listed, list) or not listed:
            fail(f"schedule {i + 1}: scenes must list scene names", "schedule", i, "scenes")
        for s in listed:
            if s not in names:
                fail(f"schedule {i + 1}: no scene named {s!r} (scenes: {', '.join(names)})", "schedule", i, "scenes")
        schedule.append(Window(start, end, tuple(names[s] for s in listed)))
    audio = _audio(data.get("audio", {}), sources, lambda m, key=None: fail(f"audio: {m}", "audio", 0, key))
    return ShowFile(path, tuple(scenes), tuple(schedule), sources, audio)


AUDIO_KEYS = {"alpha", "mix", "onset", "attack", "release"}


def _audio(raw, styles, fail):
    """``[audio]``: alpha = [low, high] (or false), mix = [style a, style b], onset = "next",
    attack and release (seconds) -> the keyword arguments of ``realtime.audio``."""
    if not isinstance(raw, dict):
        fail("expected an [audio] table")
    unknown = set(raw) - AUDIO_KEYS
    if unknown:
        key = sorted(unknown)[0]
        fail(f"unknown setting {key!r} (the sound drives {', '.join(sorted(AUDIO_KEYS))})", key)
    out = {}
    if "alpha" in raw:
        alpha = raw["alpha"]
        if alpha is False:
            out["alpha"] = None
        else:
            try:
                if not isinstance(alpha, list) or len(alpha) != 2:
                    raise ValueError("expected [low, high] or false")
                out["alpha"] = tuple(_number(v, "alpha", 0, 1) for v in alpha)
            except ValueError as e:
                fail(str(e), "alpha")
    if "mix" in raw:
        mix = raw["mix"]
        if not isinstance(mix, list) or len(mix) != 2 or not all(isinstance(m, str) and m in styles for m in mix):
            fail(f"mix: expected two styles the scenes use ({', '.join(styles)})", "mix")
        out["mix"] = tuple(mix)
    if "onset" in raw:
        if raw["onset"] not in ("next", "none"):
            fail(f"onset: expected \"next\" (the next scene on each onset) or \"none\", got {raw['onset']!r}", "onset")
        out["onset"] = None if raw["onset"] == "none" else "next"
    for key in ("attack", "release"):
        if key in raw:
            try:
                out[key] = _number(raw[key], key, 0.0, 10.0)
            except ValueError as e:
                fail(str(e), key)
    return out


def _style(spec, path, known, fail):
    """A style as the effect will load it: a known preset's name, else an image file (relative
    to the show file) that exists."""
    if known is None or spec in known:
        return spec
    file = Path(spec).expanduser()
    if not file.is_absolute():
        file = path.parent / file
    if file.suffix.lower() in IMAGE_SUFFIXES:
        if not file.is_file():
            fail(f"no image {file}")
        return str(file)
    fail(f"no style {spec!r}: not a preset ({', '.join(sorted(known))}) nor an image file")


def load(path, known_styles=None):
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise UserError(f"cannot read the show file {path}: {getattr(e, 'strerror', None) or e}") from None
    return parse(text, path, known_styles)


class ShowPlayer:
    """The show file as a control of the frame loop: ``poll()`` (between frames) applies the scene
    due now through the effect's ``scene`` action and returns no actions of its own. Reloads the
    file when its modification time changes (checked once a second) or on SIGHUP."""

    def __init__(self, show, effect, clock=time.monotonic, wallclock=datetime.datetime.now, known_styles=None,
                 watch_every=1.0):
        self.show, self.effect, self.clock, self.wallclock = show, effect, clock, wallclock
        self.known_styles, self.watch_every = known_styles, watch_every
        self.playing = None  # (scene indices of the window, position in them)
        self.scene = None  # the Scene on screen
        self.until = -math.inf  # when the scene on screen ends
        self._mtime = self._stat()
        self._next_watch = clock() + watch_every
        self._hup = self._hup_handler_set = False
        self.reloads = self.failed_reloads = 0

    def listen_for_sighup(self):
        """SIGHUP reloads the file (main thread only; where the platform has it)."""
        if hasattr(signal, "SIGHUP"):
            signal.signal(signal.SIGHUP, lambda *_: setattr(self, "_hup", True))
            self._hup_handler_set = True
        return self

    def stop(self):
        if self._hup_handler_set and hasattr(signal, "SIGHUP"):
            signal.signal(signal.SIGHUP, signal.SIG_DFL)

    def _stat(self):
        try:
            return os.stat(self.show.path).st_mtime_ns
        except OSError:
            return None

    def reload(self):
        """Read the file again; on a mistake keep the running show (one log line)."""
        try:
            new = load(self.show.path, self.known_styles)
            missing = [s for s in new.sources if s not in self._loaded_styles()]
            if missing:
                raise UserError(f"{self.show.path}: style {missing[0]!r} was not loaded at the start; restart the show "
                                "to add styles")
        except UserError as e:
            self.failed_reloads += 1
            log.error("show file not reloaded, the show goes on as it was: %s", e)
            return False
        self.show, self.playing, self.until = new, None, -math.inf  # the new timeline starts now
        self.reloads += 1
        log.info("show file reloaded: %d scene(s)", len(new.scenes))
        return True

    def _loaded_styles(self):
        return {name for name, _ in getattr(self.effect, "styles", ())}

    def _watch(self, now):
        if self._hup:
            self._hup = False
            self._mtime = self._stat()
            self.reload()
        elif now >= self._next_watch:
            self._next_watch = now + self.watch_every
            mtime = self._stat()
            if mtime is not None and mtime != self._mtime:
                self._mtime = mtime
                self.reload()

    def advance(self):
        """The next scene now (an onset of the sound)."""
        self.until = -math.inf

    def poll(self):
        now = self.clock()
        self._watch(now)
        playing = self.show.scenes_at(self.wallclock())
        if self.playing is None or self.playing[0] != playing:
            position = -1  # a new window (or file): its first scene, now
        elif now >= self.until:
            position = self.playing[1]
        else:
            return ()
        if not playing:
            return ()
        position = (position + 1) % len(playing)
        self.playing = (playing, position)
        first = self.scene is None
        self.scene = self.show.scenes[playing[position]]
        self.until = now + self.scene.duration
        # the show's first picture is its first scene, not a fade from whatever the effect held
        self.effect.action("scene", dataclasses.replace(self.scene, fade=0.0) if first else self.scene)
        log.info("scene %s: %s", self.scene.name, self.effect.label())
        return ()
