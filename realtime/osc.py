"""Show control over OSC (``realtime run --osc PORT``), so TouchDesigner, Max, QLab or a phone app
can drive a show: UDP messages become actions on a queue that the loop applies between frames,
like its keys. python-osc (an optional extra: ``pip install '.[live]'``) listens on its own thread.

    /style  N | NAME | "next" | "prev"     choose a style (index from 0, or its name)
    /alpha  X                              stylize: content-style trade-off, 0..1 (features: opacity)
    /effect "on" | "off" | 1 | 0           the effect on, or off (frames as captured)
    /record [1 | 0]                        start/stop recording (no argument: toggle)
    /snapshot                              a PNG into --snapshot-dir
    /smooth, /layer, /next, /prev, /hud    as the keys s, l, n, p, h
"""

import logging
import threading

from offline.errors import UserError
from realtime.keys import ActionQueue

log = logging.getLogger("realtime")


def _osc():
    try:
        from pythonosc import dispatcher, osc_server
    except ImportError:
        raise UserError("--osc needs python-osc: pip install 'neural-studio[live]' (or pip install python-osc)") from None
    return dispatcher, osc_server


class OscControl:
    """``start()``, then ``poll()`` between frames for the actions received; ``stop()`` at the end."""

    def __init__(self, port, host="0.0.0.0"):
        dispatcher, osc_server = _osc()
        self.actions = ActionQueue()
        d = dispatcher.Dispatcher()
        d.map("/style", self._style)
        d.map("/alpha", self._value("alpha"))
        d.map("/effect", self._effect)
        d.map("/record", self._record)
        for name in ("snapshot", "smooth", "layer", "next", "prev", "hud"):
            d.map(f"/{name}", self._plain(name))
        d.set_default_handler(lambda address, *args: log.warning("OSC: unknown address %s", address))
        try:
            self.server = osc_server.ThreadingOSCUDPServer((host, int(port)), d)
        except OSError as e:
            raise UserError(f"--osc {port}: cannot listen ({e.strerror or e})") from None
        self.port = self.server.server_address[1]
        self._thread = threading.Thread(target=self.server.serve_forever, name="osc", daemon=True)

    def start(self):
        self._thread.start()
        return self

    def poll(self):
        return self.actions.poll()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()

    # handlers: (address, *args) from python-osc's server thread
    def _style(self, address, *args):
        if not args:
            return
        value = args[0]
        if value in ("next", "prev"):
            self.actions.put(value)
        else:
            self.actions.put(("style", value))

    def _value(self, name):
        def handler(address, *args):
            if args:
                self.actions.put((name, args[0]))
        return handler

    def _effect(self, address, *args):
        on = True if not args else str(args[0]).lower() not in ("off", "0", "none", "false")
        self.actions.put(("bypass", 0 if on else 1))

    def _record(self, address, *args):
        self.actions.put(("record", args[0]) if args else "record")

    def _plain(self, name):
        def handler(address, *args):
            self.actions.put(name)
        return handler
