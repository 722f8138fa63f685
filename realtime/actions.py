"""The actions a show takes from outside (the web page, OSC), each with the value it takes, checked
at the door: a wrong type, NaN, infinity or an out-of-range number is refused there (400 on the
web, one log line on OSC) and never reaches the frame loop, so no message can stop or blacken a
show.

    check("alpha", 0.4)      -> ("alpha", 0.4)
    check("record", "on")    -> ("record", True)
    check("next")            -> "next"
    check("alpha", "nan")    -> BadAction("alpha: expected a number in 0..1, got 'nan'")
"""

import math

MAX_NAME = 200  # a style's name; longer text is no style's


class BadAction(ValueError):
    """A control asked for something the show does not take; the message is one line."""


def _number(value):
    # bool is an int in Python; True as an alpha is a client's mistake, not 1.0
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return float(value)


def _nothing(name, value):
    if value is not None:
        raise BadAction(f"{name}: takes no value, got {value!r:.40}")
    return None


def _unit(name, value):
    x = _number(value)
    if x is None or not 0.0 <= x <= 1.0:
        raise BadAction(f"{name}: expected a number in 0..1, got {value!r:.40}")
    return x


_ON, _OFF = ("on", "true", "1", "yes"), ("off", "false", "0", "no", "none")


def _switch(name, value):
    """None toggles; otherwise on or off, however a client spells it."""
    if value is None or isinstance(value, bool):
        return value
    x = _number(value)
    if x in (0.0, 1.0):
        return bool(x)
    if isinstance(value, str) and value.strip().lower() in _ON + _OFF:
        return value.strip().lower() in _ON
    raise BadAction(f"{name}: expected on/off (1/0, true/false), got {value!r:.40}")


def _style(name, value):
    """An index from 0 or a style's name."""
    x = _number(value)
    if x is not None and x == int(x) and 0 <= x < 100_000:
        return int(x)
    if isinstance(value, str) and 0 < len(value) <= MAX_NAME and value.isprintable():
        return int(value) if value.isdigit() and len(value) < 6 else value
    raise BadAction(f"{name}: expected a style index (0, 1, ...) or a style's name, got {value!r:.40}")


# name -> the check of its value; what the page and OSC may ask for (the keys' actions, plus
# settings that carry a value)
ACTIONS = {
    "next": _nothing, "prev": _nothing, "alpha+": _nothing, "alpha-": _nothing, "smooth": _nothing,
    "layer": _nothing, "channel": _nothing, "snapshot": _nothing, "hud": _nothing,
    "alpha": _unit, "style": _style, "bypass": _switch, "record": _switch,
}


def check(name, value=None):
    """The action as the loop takes it (a name, or (name, value) with the value normalised), or
    ``BadAction``."""
    if not isinstance(name, str) or name not in ACTIONS:
        raise BadAction(f"unknown action {name!r:.40}")
    value = ACTIONS[name](name, value)
    return name if value is None else (name, value)
