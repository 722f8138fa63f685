"""Show control over OSC (``realtime run --osc [HOST:]PORT``), so TouchDesigner, Max, QLab or a
phone app can drive a show: UDP messages become actions on a queue that the loop applies between
frames, like its keys. python-osc (an optional extra: ``pip install '.[live]'``) listens on its
own thread.

    /style  N | NAME | "next" | "prev"     choose a style (index from 0, or its name)
    /alpha  X                              stylize: content-style trade-off, 0..1 (features: opacity)
    /effect "on" | "off" | 1 | 0           the effect on, or off (frames as captured)
    /record [1 | 0]                        start/stop recording (no argument: toggle)
    /snapshot                              a PNG into --snapshot-dir
    /smooth, /layer, /next, /prev, /hud    as the keys s, l, n, p, h (a 0 argument, a button's
                                           release, does nothing)

Safe on a show's network: it listens on loopback unless told a host, and then only takes
messages from the allowed senders (``--osc-allow``); every value is checked
(``realtime.actions``) and a bad one is logged once per kind, never applied; bundles time-tagged
in the future are applied when they arrive (no thread sleeps until then); one thread serves
every message, so stopping takes at most its half-second poll.
"""

import logging
import threading

from offline.errors import UserError
from realtime import actions as show_actions, net
from realtime.keys import ActionQueue

log = logging.getLogger("realtime")

DEFAULT_PORT = 9000


def _osc():
    try:
        from pythonosc import dispatcher, osc_server
    except ImportError:
        raise UserError("--osc needs python-osc: pip install 'neural-studio[live]' (or pip install python-osc)") from None
    return dispatcher, osc_server


def parse_address(text):
    """``PORT``, ``HOST:PORT`` or ``HOST`` -> (host, port) for ``--osc`` (loopback unless a host is named)."""
    return net.parse_address(text, "--osc", DEFAULT_PORT)


def check_allow(host, allow):
    """The sender allow-list for a server on ``host``: beyond loopback one must be given."""
    if allow is None:
        if not net.is_loopback(host):
            raise UserError(f"--osc {host}: listening beyond this machine needs --osc-allow IP[,IP|NETWORK...] "
                            "(the senders to obey) or --osc-allow any")
        return []
    return net.parse_allow(allow)


class OscControl:
    """``start()``, then ``poll()`` between frames for the actions received; ``stop()`` at the end.
    ``allow``: a list of ``ipaddress`` networks the senders must be in (loopback always is), or
    None for any sender."""

    def __init__(self, port, host=net.LOOPBACK, allow=()):
        dispatcher, osc_server = _osc()
        self.actions = ActionQueue()
        self.allow = None if allow is None else list(allow)
        self._reported = set()  # kinds of refusal already logged: a flood costs one line each
        d = dispatcher.Dispatcher(strict_timing=False)  # future time tags: now, never a sleeping thread
        d.map("/style", self._style)
        d.map("/alpha", self._value("alpha"))
        d.map("/effect", self._effect)
        d.map("/record", self._record)
        for name in ("snapshot", "smooth", "layer", "next", "prev", "hud"):
            d.map(f"/{name}", self._plain(name))
        d.set_default_handler(lambda address, *args: self._refuse(f"unknown address {str(address)[:60]}"))
        control = self

        class Server(osc_server.BlockingOSCUDPServer):
            def verify_request(self, request, client_address):
                if not net.allowed(client_address[0], control.allow):
                    control._refuse(f"a message from {client_address[0]}, not in --osc-allow")
                    return False
                return super().verify_request(request, client_address)

            def handle_error(self, request, client_address):  # a handler's bug: logged, the server goes on
                log.debug("OSC: error handling a message", exc_info=True)
                control._refuse("a message the server could not handle")

        try:
            self.server = Server((host, int(port)), d)
        except OSError as e:
            raise UserError(f"--osc {host}:{port}: cannot listen ({e.strerror or e})") from None
        self.port = self.server.server_address[1]
        self._thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.5},
                                        name="osc", daemon=True)

    def start(self):
        self._thread.start()
        return self

    def poll(self):
        return self.actions.poll()

    def stop(self):
        if self._thread.is_alive():
            self.server.shutdown()
        self.server.server_close()

    def _refuse(self, why):
        kind = why.split(":")[0][:80]
        if kind not in self._reported:
            self._reported.add(kind)
            log.warning("OSC: ignored %s (further ones of this kind are not logged)", why)

    def _put(self, name, value=None):
        try:
            self.actions.put(show_actions.check(name, value))
        except show_actions.BadAction as e:
            self._refuse(str(e))

    # handlers: (address, *args) from python-osc's server thread
    def _style(self, address, *args):
        if not args:
            return
        value = args[0]
        if value in ("next", "prev"):
            self._put(value)
        else:
            self._put("style", value)

    def _value(self, name):
        def handler(address, *args):
            if args:
                self._put(name, args[0])
        return handler

    def _effect(self, address, *args):
        self._put("bypass", _invert(args[0]) if args else False)  # no argument: on

    def _record(self, address, *args):
        self._put("record", args[0] if args else None)

    def _plain(self, name):
        def handler(address, *args):
            if args and args[0] in (0, 0.0, False):  # a button's release
                return
            self._put(name)
        return handler


def _invert(value):
    """/effect on -> bypass off: the same spellings, the other way round."""
    try:
        on = show_actions.check("bypass", value)[1]
    except show_actions.BadAction:
        return value  # refused in _put with the client's own value
    return not on
