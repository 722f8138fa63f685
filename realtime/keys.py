"""The one key table: each effect declares its keys, the loop adds its own; the loop dispatches
from the table, and the HUD's help line and ``realtime --help`` are generated from it.

    Key("n", "next", "style", "next style")   # key(s), action, HUD word, help text
"""

import queue

from offline.effects import Key  # noqa: F401 - defined with the effects, re-exported for the table


# the loop's own keys (any effect)
LOOP = (
    Key("h", "hud", "HUD", "HUD on/off"),
    Key("r", "record", "record", "start/stop recording (a new file each time)"),
    Key("space", "snapshot", "snapshot", "snapshot PNG (--snapshot-dir)"),
    Key("f", "fullscreen", "fullscreen", "fullscreen on/off"),
    Key("q", "quit", "quit", "quit"),
    Key("esc", "quit", "quit", "quit"),
)


def table(effect_keys):
    """The effect's keys first, then the loop's: {key code: action}."""
    out = {}
    for k in tuple(effect_keys) + LOOP:
        for code in k.codes():
            out.setdefault(code, k.action)
    return out


def hud_line(effect_keys):
    """'n/p style  +/- alpha  s smooth  h HUD ...': keys that share a HUD word, joined by '/'."""
    groups = {}
    for k in tuple(effect_keys) + LOOP:
        if k.keys == "esc":
            continue
        groups.setdefault(k.hud, []).append(k.label())
    return "  ".join(f"{'/'.join(dict.fromkeys(labels))} {word}" for word, labels in groups.items())


def help_text(effects):
    """``--help`` lines: [(effect name, [(keys, help)])] -> text."""
    lines = []
    for name, keys in effects:
        if keys:
            lines.append(f"{name}: " + ", ".join(f"{k.label()} {k.help}" for k in keys))
    lines.append("any effect: " + ", ".join(f"{k.label()} {k.help}" for k in LOOP if k.keys != "esc")
                 + " (also Esc)")
    return "\n".join(lines)


class ActionQueue:
    """Actions from other threads (the web page, OSC) that the loop applies between frames, like
    keys: a name ("next") or (name, value) (("alpha", 0.4))."""

    def __init__(self):
        self._queue = queue.SimpleQueue()

    def put(self, action):
        self._queue.put(action)

    def poll(self):
        """Every action since the last call, oldest first."""
        out = []
        while True:
            try:
                out.append(self._queue.get_nowait())
            except queue.Empty:
                return out
