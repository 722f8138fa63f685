"""The show on a web page (``realtime run --serve [HOST:]PORT``): the live output as an MJPEG stream
(an OBS Browser Source can show it), the HUD's figures, and controls (styles, alpha, smoothing,
layer, record, snapshot) for installation staff on a phone.

Served by aiohttp (an optional extra: ``pip install '.[live]'``) on its own thread and event loop,
so the frame loop never waits for a client:
- the loop hands over its newest frame with ``publish`` (a reference swap, no copy, no encoding);
- the server encodes it to JPEG once per frame, and only while someone watches;
- each stream client gets the newest frame when it is ready for one: a slow or vanished client
  misses frames instead of queueing them, so it costs the loop nothing and memory stays flat;
- controls become actions on a queue that the loop drains between frames, like its keys.

Security: bound beyond loopback, every request needs the token (printed at start, or ``--token``)
as ``?token=`` (the page then keeps it in a cookie) or an ``X-Token`` header, else 401. Only the
page's own routes exist (no static files), and at most ``max_clients`` streams run at once.
"""

import asyncio
import hmac
import json
import logging
import secrets
import threading
import time

import cv2
import numpy as np

from offline.errors import UserError
from realtime import actions as show_actions, net
from realtime.keys import ActionQueue

log = logging.getLogger("realtime")

DEFAULT = ("127.0.0.1", 8765)


def parse_address(text):
    """``PORT``, ``HOST:PORT`` or ``HOST`` -> (host, port) for ``--serve``."""
    return net.parse_address(text, "--serve", DEFAULT[1])


def _aiohttp():
    try:
        from aiohttp import web
    except ImportError:
        raise UserError("--serve needs aiohttp: pip install 'neural-studio[live]' (or pip install aiohttp)") from None
    return web


class WebServer:
    """``start()``, then per frame ``publish(frame_rgb, state)`` and ``poll()`` for the actions
    the page asked for; ``stop()`` at the end. ``state`` is a JSON-able dict (the HUD's figures,
    the style list and the current settings) that the page shows."""

    def __init__(self, host="127.0.0.1", port=8765, token=None, max_clients=20, quality=80, thumbnails=None):
        self.web = _aiohttp()
        self.host, self.port = host, int(port)
        self.token = token or (None if net.is_loopback(host) else secrets.token_urlsafe(12))
        # the names a request may carry in Host/Origin: IP literals, this machine's names, the bound host
        self.names = net.local_names() | {str(host).lower().strip("[]")}
        self.max_clients, self.quality = int(max_clients), int(quality)
        self.thumbnails = thumbnails or {}  # {style index: RGB image}
        self.actions = ActionQueue()
        self.clients = 0
        self._frame, self._seq, self._state, self._captured = None, 0, {}, None
        self._started, self._published = time.monotonic(), None  # for /health: uptime, the last frame's age
        self._part, self._part_seq = None, -1  # the newest frame as one multipart part, and its number
        self._encoding, self._encoding_seq = None, -1  # the encode in progress (a future), and its number
        self._loop = self._runner = None
        self._new_frame = None  # asyncio.Condition, in the server's loop
        self._ready = threading.Event()
        self._error = None
        self._thread = threading.Thread(target=self._serve, name="web", daemon=True)

    # --- the loop's side ---------------------------------------------------------------------------
    def start(self):
        self._thread.start()
        self._ready.wait(10)
        if self._error is not None:
            raise UserError(f"--serve {self.host}:{self.port}: {self._error}")
        return self

    @property
    def url(self):
        host = "127.0.0.1" if self.host in ("0.0.0.0", "") else self.host
        return f"http://{host}:{self.port}/" + (f"?token={self.token}" if self.token else "")

    def publish(self, frame, state):
        """The newest output frame (RGB uint8) and the show's state: a swap, nothing else."""
        self._frame, self._state, self._published = frame, state, time.monotonic()
        self._captured = state.get("captured") if isinstance(state, dict) else None
        self._seq += 1
        if self._loop is not None and self.clients:
            self._loop.call_soon_threadsafe(self._wake)

    def poll(self):
        return self.actions.poll()

    def stop(self):
        if self._loop is not None and self._runner is not None:
            fut = asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop)
            try:
                fut.result(5)
            except Exception:  # noqa: BLE001 - shutting down anyway
                pass
            self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)

    # --- the server's side ---------------------------------------------------------------------------
    def _serve(self):
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        self._new_frame = asyncio.Condition()
        app = self.web.Application(middlewares=[self._auth])
        app.add_routes([self.web.get("/", self._page), self.web.get("/stream", self._stream),
                        self.web.get("/state", self._state_json),
                        self.web.get("/health", self._health), self.web.get("/thumb/{index}", self._thumb),
                        self.web.post("/action", self._action)])
        self._runner = self.web.AppRunner(app, access_log=None)
        try:
            loop.run_until_complete(self._runner.setup())
            site = self.web.TCPSite(self._runner, self.host, self.port)
            loop.run_until_complete(site.start())
        except OSError as e:
            self._error = e.strerror or str(e)
            self._ready.set()
            return
        self._loop = loop
        self._ready.set()
        loop.run_forever()
        try:  # stopped: the encoding threads go too (a server per run, but tests start many)
            loop.run_until_complete(loop.shutdown_default_executor())
        finally:
            loop.close()

    def _wake(self):
        async def notify():
            async with self._new_frame:
                self._new_frame.notify_all()
        asyncio.ensure_future(notify())

    def _authorised(self, request):
        if self.token is None:
            return True
        given = request.query.get("token") or request.headers.get("X-Token") or request.cookies.get("token") or ""
        # bytes: compare_digest refuses non-ASCII str (a visitor's token must be a 401, not a 500)
        return hmac.compare_digest(given.encode("utf-8", "replace"), self.token.encode())

    def _known_host(self, netloc):
        """Is ``netloc`` (HOST[:PORT]) this machine? A DNS-rebinding page reaches us under its own
        domain name, so a name must be ours; IP literals need no DNS and pass."""
        host = netloc.rsplit("]", 1)[0].lstrip("[") if netloc.startswith("[") else netloc.rsplit(":", 1)[0]
        return net.is_ip(host) or host.lower() in self.names

    def _refusal(self, request):
        """Why this request may not reach the show (None: it may)."""
        if not self._known_host(request.host or ""):
            return 421, f"421: unknown host {request.host!r:.60}\n"
        origin = request.headers.get("Origin")
        if origin is not None or request.method != "GET":
            # browsers send Origin on every cross-site POST; a site other than the page's own is refused
            if request.headers.get("Sec-Fetch-Site", "same-origin") not in ("same-origin", "none"):
                return 403, "403: cross-site requests are refused\n"
            if origin is not None and origin.split("://", 1)[-1].rstrip("/").lower() != (request.host or "").lower():
                return 403, "403: cross-site requests are refused\n"
        if not self._authorised(request):
            return 401, "401: this show needs its token (?token=...)\n"
        return None

    @property
    def _auth(self):
        web = self.web

        @web.middleware
        async def auth(request, handler):
            refused = self._refusal(request)
            if refused is not None:
                return web.Response(status=refused[0], text=refused[1])
            response = await handler(request)
            if self.token and request.query.get("token") and isinstance(response, web.Response):
                response.set_cookie("token", self.token, httponly=True, samesite="Strict")
            return response

        return auth

    def _encode_part(self, frame, captured):
        """One frame as a multipart part (JPEG with its headers). X-Captured: the frame's capture
        time (time.perf_counter() of this machine), for latency measurements."""
        ok, buf = cv2.imencode(".jpg", cv2.cvtColor(frame, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, self.quality])
        if not ok:
            return None
        jpeg = buf.tobytes()
        captured = b"" if captured is None else b"X-Captured: %.6f\r\n" % captured
        return (b"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: " + str(len(jpeg)).encode() + b"\r\n"
                + captured + b"\r\n" + jpeg + b"\r\n")

    async def _newest_part(self):
        """(part, number) of the newest frame, encoded once per frame however many viewers ask:
        the first viewer to find it stale starts the encode in a worker thread, the others await
        the same future (all of this runs on the server's event loop, so the check is atomic)."""
        seq = self._seq
        if self._part_seq == seq or self._frame is None:
            return self._part, self._part_seq
        if self._encoding_seq != seq:
            self._encoding_seq = seq
            self._encoding = asyncio.get_running_loop().run_in_executor(None, self._encode_part, self._frame,
                                                                        self._captured)
        encoding = self._encoding
        part = await asyncio.shield(encoding)  # a viewer leaving must not cancel the others' frame
        if part is not None and seq > self._part_seq:
            self._part, self._part_seq = part, seq
        return part, seq

    async def _page(self, request):
        return self.web.Response(text=PAGE, content_type="text/html")

    async def _stream(self, request):
        web = self.web
        if self.clients >= self.max_clients:
            return web.Response(status=503, text=f"503: {self.max_clients} viewers already\n")
        self.clients += 1
        response = web.StreamResponse(headers={"Content-Type": "multipart/x-mixed-replace; boundary=frame",
                                               "Cache-Control": "no-store"})
        try:
            await response.prepare(request)
            sent = -1
            while True:
                async with self._new_frame:
                    if self._seq == sent or self._frame is None:
                        try:
                            await asyncio.wait_for(self._new_frame.wait(), 2.0)
                        except asyncio.TimeoutError:
                            pass
                part, seq = await self._newest_part()
                if part is None or seq == sent:
                    continue
                sent = seq
                # a client that cannot keep up blocks only itself here; it then gets the newest frame
                await response.write(part)
        except (ConnectionError, asyncio.CancelledError, RuntimeError):
            pass  # the viewer left (a phone locked, a tab closed): part of a show, not an error
        finally:
            self.clients -= 1
        return response

    async def _state_json(self, request):
        return self.web.json_response({**self._state, "viewers": self.clients, "time": time.time()})

    def health(self, stale=5.0):
        """What a monitor polls: frames, rate, the last frame's age, errors by kind, uptime,
        memory; ``ok`` while a frame came in the last ``stale`` seconds."""
        from realtime.sinks import rss_mb

        now = time.monotonic()
        age = None if self._published is None else round(now - self._published, 3)
        state = self._state if isinstance(self._state, dict) else {}
        return {"ok": age is not None and age < stale, "frames": state.get("frames", 0), "fps": state.get("fps", 0.0),
                "last_frame_age_s": age, "errors": state.get("errors", {}), "dropped": state.get("dropped", 0),
                "uptime_s": round(now - self._started, 1), "rss_mb": round(rss_mb()[0], 1), "viewers": self.clients,
                "effect": state.get("label"), "time": time.time()}

    async def _health(self, request):
        report = self.health()
        return self.web.json_response(report, status=200 if report["ok"] else 503)  # monitors read the status

    async def _thumb(self, request):
        try:
            image = self.thumbnails[int(request.match_info["index"])]
        except (KeyError, ValueError):
            return self.web.Response(status=404, text="no such thumbnail\n")
        ok, buf = cv2.imencode(".jpg", cv2.cvtColor(np.asarray(image, np.uint8), cv2.COLOR_RGB2BGR))
        return self.web.Response(body=buf.tobytes(), content_type="image/jpeg")

    async def _action(self, request):
        """``{"action": NAME[, "value": V]}``, checked here (``realtime.actions``): a bad one is a
        400 and never reaches the loop."""
        web = self.web
        try:
            text = await request.content.read(MAX_BODY + 1)
            if len(text) > MAX_BODY:
                raise show_actions.BadAction(f"a control message is at most {MAX_BODY} bytes")
            body = json.loads(text, parse_constant=_no_constant)
            if not isinstance(body, dict) or not isinstance(body.get("action"), str):
                raise show_actions.BadAction('expected {"action": NAME[, "value": V]}')
            action = show_actions.check(body["action"], body.get("value"))
        except show_actions.BadAction as e:
            return web.json_response({"error": str(e)}, status=400)
        except (ValueError, RecursionError):  # not JSON, NaN/Infinity, nested too deep
            return web.json_response({"error": 'expected JSON {"action": NAME[, "value": V]}'}, status=400)
        self.actions.put(action)
        return web.json_response({"queued": body["action"]})


MAX_BODY = 4096


def _no_constant(name):
    raise ValueError(f"{name} is not a value a control takes")


PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>neural studio</title>
<style>
 body { margin: 0; background: #111; color: #eee; font: 15px system-ui, sans-serif; }
 #view { width: 100%; max-height: 70vh; object-fit: contain; background: #000; display: block; }
 #bar { padding: 8px 12px; display: flex; flex-wrap: wrap; gap: 8px; align-items: center; }
 button { font-size: 16px; padding: 8px 14px; border-radius: 6px; border: 0; background: #333; color: #eee; }
 button.on { background: #b33; }
 #styles { display: flex; flex-wrap: wrap; gap: 6px; padding: 0 12px 12px; }
 .style { background: #222; border-radius: 6px; padding: 4px; cursor: pointer; text-align: center; width: 84px; }
 .style.current { outline: 2px solid #fc3; }
 .style img { width: 80px; height: 80px; object-fit: cover; display: block; border-radius: 4px; }
 .style span { display: block; font-size: 12px; white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
 #hud { font-family: ui-monospace, monospace; opacity: .8; }
</style></head><body>
<img id="view" src="stream" alt="the live output">
<div id="bar">
 <button id="prev" onclick="act('prev')">&#9664; prev</button>
 <button id="next" onclick="act('next')">next &#9654;</button>
 <label>alpha <input id="alpha" type="range" min="0" max="1" step="0.05"
   onchange="act('alpha', parseFloat(this.value))"></label>
 <button id="smooth" onclick="act('smooth')">smoothing</button>
 <button id="layer" onclick="act('layer')">layer</button>
 <button id="record" onclick="act('record')">record</button>
 <button id="snapshot" onclick="act('snapshot')">snapshot</button>
 <span id="hud"></span>
</div>
<div id="styles"></div>
<script>
async function act(action, value) {
  const body = value === undefined ? {action} : {action, value};
  await fetch('action', {method: 'POST', headers: {'Content-Type': 'application/json'}, body: JSON.stringify(body)});
  refresh();
}
let shown = '';
async function refresh() {
  const r = await fetch('state');
  if (!r.ok) return;
  const s = await r.json();
  document.getElementById('hud').textContent =
    `${(s.fps || 0).toFixed(1)} FPS  ${Math.round(s.latency_ms || 0)} ms  ${s.label || ''}  viewers ${s.viewers}`;
  document.getElementById('record').className = s.recording ? 'on' : '';
  if (s.alpha !== undefined && document.activeElement.id !== 'alpha') document.getElementById('alpha').value = s.alpha;
  const styles = s.styles || [];
  const key = styles.join('|') + '#' + s.style_index;
  if (key !== shown) {
    shown = key;
    const box = document.getElementById('styles');
    box.innerHTML = '';
    styles.forEach((name, i) => {
      const d = document.createElement('div');
      d.className = 'style' + (i === s.style_index ? ' current' : '');
      d.id = 'style-' + i;
      d.onclick = () => act('style', i);
      if ((s.thumbnails || []).includes(i)) { const im = document.createElement('img'); im.src = 'thumb/' + i; d.appendChild(im); }
      const label = document.createElement('span');
      label.textContent = name;
      d.title = name;  // a long name is cut with an ellipsis; the whole of it on hover
      d.appendChild(label);
      box.appendChild(d);
    });
  }
}
setInterval(refresh, 1000);
refresh();
</script></body></html>
"""

