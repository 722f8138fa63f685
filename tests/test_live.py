"""Live outputs and controls: the web page (a real aiohttp server, a real headless Chromium) and OSC
(a real UDP client). Skipped where the [live] extra or Chromium is missing; CI installs both."""

import asyncio
import json
import os
import socket
import threading
import time
import urllib.error
import urllib.request

import cv2
import numpy as np
import pytest

pytest.importorskip("aiohttp", reason="the web page needs the [live] extra: pip install '.[live]'")
pytest.importorskip("pythonosc", reason="OSC needs the [live] extra: pip install '.[live]'")

from offline.effects import Effect  # noqa: E402
from realtime.loop import Show, state_of  # noqa: E402
from realtime.osc import OscControl  # noqa: E402
from realtime.sinks import Stats  # noqa: E402
from realtime.web import WebServer, parse_address  # noqa: E402

from browser import CHROMIUM, headless_page  # noqa: E402 (tests/browser.py)


def free_port(kind=socket.SOCK_STREAM):
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class StyledEffect(Effect):
    """A stand-in for the stylize effect: styles, alpha, and a picture that shows which style."""

    name = "stylize"

    def __init__(self):
        self.styles = [("red", None), ("green", None), ("blue", None)]
        self.style_index, self.alpha, self.smooth_on = 0, 1.0, True

    @property
    def thumbnails(self):
        return {0: np.full((8, 8, 3), 200, np.uint8)}

    def __call__(self, image):
        out = image.copy()
        out[..., self.style_index] = 255
        return out

    def action(self, name, value=None):
        if name == "next":
            self.style_index = (self.style_index + 1) % 3
        elif name == "style":
            self.style_index = int(value) % 3
        elif name == "alpha":
            self.alpha = float(value)
        else:
            return None
        return self.label()

    def label(self):
        return f"stylize {self.styles[self.style_index][0]} alpha {self.alpha}"


class FakeShow:
    """The frame loop's part: publishes a moving picture, applies the page's actions."""

    def __init__(self, server, fps=30, noise=False):
        self.server, self.effect, self.noise = server, StyledEffect(), noise
        self.show, self.stats = Show(self.effect), Stats()
        self.stop, self.publish_seconds = threading.Event(), []
        self.thread = threading.Thread(target=self.run, args=(fps,), daemon=True)

    def run(self, fps):
        i = 0
        while not self.stop.is_set():
            frame = np.zeros((90, 160, 3), np.uint8)
            frame[:, (i * 7) % 150:(i * 7) % 150 + 10] = 255  # a bar that moves
            out = self.effect(frame)
            if self.noise:  # large JPEGs (~0.5 MB): a viewer that does not read soon holds the server's write
                out = np.random.default_rng(i).integers(0, 256, (360, 640, 3), dtype=np.uint8)
            t = time.perf_counter()
            self.server.publish(out, state_of(self.show, self.stats, 0))
            self.publish_seconds.append(time.perf_counter() - t)
            for action in self.server.poll():
                self.show.key(action)
            i += 1
            time.sleep(1 / fps)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join(5)


def get(url, token=None, timeout=5):
    req = urllib.request.Request(url, headers={"X-Token": token} if token else {})
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return r.status, r.read()


def post(url, body):
    req = urllib.request.Request(url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=5) as r:
        return json.loads(r.read())


def test_addresses_parse():
    assert parse_address("8765") == ("127.0.0.1", 8765)
    assert parse_address("0.0.0.0:9000") == ("0.0.0.0", 9000)
    from offline.errors import UserError

    with pytest.raises(UserError):
        parse_address("host:99999")


def test_page_state_actions_stream_and_thumbnails():
    port = free_port()
    server = WebServer("127.0.0.1", port, thumbnails={0: np.full((8, 8, 3), 200, np.uint8)}).start()
    try:
        assert server.token is None  # loopback: no token needed
        with FakeShow(server) as show:
            time.sleep(0.3)
            status, page = get(f"http://127.0.0.1:{port}/")
            assert status == 200 and b'src="stream"' in page
            state = json.loads(get(f"http://127.0.0.1:{port}/state")[1])
            assert state["styles"] == ["red", "green", "blue"] and state["style_index"] == 0
            assert post(f"http://127.0.0.1:{port}/action", {"action": "style", "value": 2}) == {"queued": "style"}
            post(f"http://127.0.0.1:{port}/action", {"action": "alpha", "value": 0.25})
            time.sleep(0.3)
            assert (show.effect.style_index, show.effect.alpha) == (2, 0.25)
            with pytest.raises(urllib.error.HTTPError) as e:
                post(f"http://127.0.0.1:{port}/action", {"action": "rm -rf"})
            assert e.value.code == 400
            with pytest.raises(urllib.error.HTTPError) as e:
                get(f"http://127.0.0.1:{port}/../../etc/passwd")
            assert e.value.code == 404  # only the page's own routes exist
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/stream", timeout=5) as r:
                assert r.headers["Content-Type"].startswith("multipart/x-mixed-replace")
                data = r.read(60000)
            jpegs = [p for p in data.split(b"--frame") if b"\xff\xd8" in p]
            assert len(jpegs) >= 2
            first = cv2.imdecode(np.frombuffer(jpegs[0][jpegs[0].index(b"\xff\xd8"):], np.uint8), cv2.IMREAD_COLOR)
            assert first.shape == (90, 160, 3)
            assert get(f"http://127.0.0.1:{port}/thumb/0")[1][:2] == b"\xff\xd8"
    finally:
        server.stop()


def test_beyond_loopback_every_request_needs_the_token():
    port = free_port()
    server = WebServer("0.0.0.0", port).start()
    try:
        assert server.token and len(server.token) >= 12
        for path in ("", "state", "stream"):
            with pytest.raises(urllib.error.HTTPError) as e:
                get(f"http://127.0.0.1:{port}/{path}")
            assert e.value.code == 401
        with pytest.raises(urllib.error.HTTPError):
            get(f"http://127.0.0.1:{port}/state", token="wrong")
        assert get(f"http://127.0.0.1:{port}/state", token=server.token)[0] == 200
        assert get(f"http://127.0.0.1:{port}/?token={server.token}")[0] == 200
    finally:
        server.stop()


@pytest.mark.slow
def test_a_stalled_viewer_never_slows_the_loop_and_viewers_are_bounded():
    port = free_port()
    server = WebServer("127.0.0.1", port, max_clients=2).start()
    try:
        with FakeShow(server, fps=200) as show:
            stalled = socket.create_connection(("127.0.0.1", port))
            stalled.sendall(b"GET /stream HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")  # ... and never reads
            stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            time.sleep(0.3)
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/stream", timeout=5):
                with pytest.raises(urllib.error.HTTPError) as e:  # a third viewer
                    get(f"http://127.0.0.1:{port}/stream")
                assert e.value.code == 503
            n = len(show.publish_seconds)
            time.sleep(1.5)
            published = show.publish_seconds[n:]
            assert len(published) > 100  # the loop kept its pace with a viewer that reads nothing
            # publishing is a swap: a write blocked on the stalled viewer would take seconds, while a
            # busy machine may deschedule the thread for a few milliseconds
            assert np.median(published) < 0.001 and max(published) < 0.1
            stalled.close()
    finally:
        server.stop()


@pytest.mark.slow
def test_each_frame_is_encoded_once_however_many_viewers():
    port = free_port()
    server = WebServer("127.0.0.1", port).start()
    calls, encode = [], server._encode_part
    server._encode_part = lambda frame, captured: calls.append(1) or encode(frame, captured)
    received = []

    def view():
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/stream", timeout=5) as r:
            data = b""
            while data.count(b"--frame") < 10:
                data += r.read1(65536)
            received.append(data.count(b"--frame"))

    try:
        with FakeShow(server, fps=30) as show:
            viewers = [threading.Thread(target=view) for _ in range(6)]
            for v in viewers:
                v.start()
            for v in viewers:
                v.join(10)
            published = len(show.publish_seconds)
    finally:
        server.stop()
    assert len(received) == 6  # every viewer got its frames
    assert 10 <= len(calls) <= published  # one encode a frame, not one a viewer
    assert not [t for t in threading.enumerate() if t.name.startswith("asyncio_")]  # its encoding threads went


@pytest.mark.slow
def test_a_viewer_that_vanishes_mid_stream_leaves_no_error_in_the_log(caplog):
    import logging
    import struct

    port = free_port()
    server = WebServer("127.0.0.1", port).start()
    try:
        with caplog.at_level(logging.ERROR), FakeShow(server, fps=30, noise=True):
            for _ in range(2):
                gone = socket.socket()
                gone.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
                gone.connect(("127.0.0.1", port))
                gone.sendall(b"GET /stream HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
                assert gone.recv(4096).startswith(b"HTTP/1.1 200")
                time.sleep(1.5)  # not reading: the server waits to send it more
                gone.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                gone.close()  # a reset, as when a phone drops off the network
            time.sleep(1.0)
            assert get(f"http://127.0.0.1:{port}/state")[0] == 200
            deadline = time.monotonic() + 5
            while server.clients and time.monotonic() < deadline:
                time.sleep(0.1)
            assert server.clients == 0
    finally:
        server.stop()
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], [r.getMessage() for r in caplog.records]


def test_osc_messages_become_actions():
    from pythonosc.udp_client import SimpleUDPClient

    port = free_port(socket.SOCK_DGRAM)
    control = OscControl(port, host="127.0.0.1").start()
    try:
        client = SimpleUDPClient("127.0.0.1", port)
        client.send_message("/alpha", 0.3)
        client.send_message("/style", "next")
        client.send_message("/style", 2)
        client.send_message("/effect", "off")
        client.send_message("/record", [])
        client.send_message("/snapshot", [])
        deadline, got = time.monotonic() + 5, []
        while len(got) < 6 and time.monotonic() < deadline:
            got += control.poll()
            time.sleep(0.05)
        assert got[0][0] == "alpha" and got[0][1] == pytest.approx(0.3)  # OSC floats are 32-bit
        assert got[1:] == ["next", ("style", 2), ("bypass", True), "record", "snapshot"]
    finally:
        control.stop()


def test_controls_drive_the_real_loop(tmp_path):
    """OSC into realtime.loop.run: alpha and style change, the effect goes off and on."""
    from pythonosc.udp_client import SimpleUDPClient

    from realtime.loop import run
    from realtime.sources import LatestFrame

    class Frames:
        name, fps, size = "test", 100.0, (32, 24)

        def read(self):
            time.sleep(0.01)
            return np.full((24, 32, 3), 40, np.uint8)

        def close(self):
            pass

    port = free_port(socket.SOCK_DGRAM)
    control = OscControl(port, host="127.0.0.1").start()
    effect = StyledEffect()
    seen = []

    class Watch:
        def publish(self, frame, state):
            seen.append((int(frame[0, 0, 2]), state["style_index"], state["alpha"], state["bypass"]))

    client = SimpleUDPClient("127.0.0.1", port)

    def talk():
        time.sleep(0.3)
        client.send_message("/style", 2)
        client.send_message("/alpha", 0.5)
        time.sleep(0.3)
        client.send_message("/effect", "off")

    threading.Thread(target=talk, daemon=True).start()
    try:
        with LatestFrame(Frames()) as capture:
            run(capture, effect, max_frames=80, controls=[control], publishers=[Watch()])
    finally:
        control.stop()
    assert seen[0][1:3] == (0, 1.0)
    assert (2, 0.5) in [s[1:3] for s in seen]
    assert seen[-1][3] is True and seen[-1][0] == 40  # bypassed: the frame as captured
    assert any(s[0] == 255 for s in seen)  # style 2 painted the blue channel while on


# --- hostile clients: nothing a message says can stop, blacken, hang or hijack a show ----------------

# (action, value) a client may send that the show must refuse, for every action that takes a value
BAD_VALUES = [("alpha", v) for v in ("0.5", [0.5], {"x": 1}, True, -0.1, 1.5, 1e308 * 10, None)] + \
             [("style", v) for v in (-1, 1.5, [1], {"i": 1}, True, "", "x" * 300, "\x00bad", 1e308 * 10)] + \
             [("record", v) for v in ("maybe", [1], {"on": 1}, 2, -1, 0.5)] + \
             [("bypass", v) for v in ("maybe", [1], 7, 0.5)] + \
             [("next", 1), ("snapshot", "now"), ("quit", None), ("fullscreen", None), (["next"], None), (None, None)]


def test_the_action_table_refuses_every_bad_value_and_normalises_good_ones():
    from realtime.actions import BadAction, check

    for name, value in BAD_VALUES:
        with pytest.raises(BadAction):
            check(name, value)
    assert check("alpha", 0) == ("alpha", 0.0) and check("alpha", 1) == ("alpha", 1.0)
    assert check("record") == "record" and check("record", "on") == ("record", True)
    assert check("bypass", 0) == ("bypass", False) and check("bypass", "OFF") == ("bypass", False)
    assert check("style", 2.0) == ("style", 2) and check("style", "la_muse") == ("style", "la_muse")
    assert check("style", "3") == ("style", 3) and check("next") == "next"


def _post_raw(port, body, headers=None):
    req = urllib.request.Request(f"http://127.0.0.1:{port}/action", data=body,
                                 headers={"Content-Type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(req, timeout=5) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code


def test_web_controls_refuse_bad_values_and_the_show_goes_on():
    port = free_port()
    server = WebServer("127.0.0.1", port).start()
    try:
        with FakeShow(server) as show:
            for name, value in BAD_VALUES:
                assert _post_raw(port, json.dumps({"action": name, "value": value}).encode()) == 400, (name, value)
            for raw in (b'{"action": "alpha", "value": NaN}', b'{"action": "alpha", "value": Infinity}',
                        b'{"action": "style", "value": -Infinity}', b"[" * 100_000 + b"]" * 100_000,
                        b'{"action": ' * 5000, b"not json", b"", b'"alpha"', b'{"action": 3}',
                        b'{"action": "alpha", "value": 0.5, "pad": "' + b"x" * 10_000 + b'"}'):
                assert _post_raw(port, raw) == 400, raw[:40]
            n = len(show.publish_seconds)
            time.sleep(0.4)
            assert show.thread.is_alive() and len(show.publish_seconds) > n  # the loop went on
            assert (show.effect.style_index, show.effect.alpha) == (0, 1.0)  # and nothing reached it
            assert _post_raw(port, b'{"action": "alpha", "value": 0.5}') == 200
            time.sleep(0.3)
            assert show.effect.alpha == 0.5
    finally:
        server.stop()


def test_web_page_refuses_other_sites_and_rebound_names():
    port = free_port()
    server = WebServer("127.0.0.1", port).start()
    try:
        with FakeShow(server) as show:
            body = b'{"action": "style", "value": 2}'
            assert _post_raw(port, body, {"Origin": "http://evil.example"}) == 403
            assert _post_raw(port, body, {"Origin": "null"}) == 403
            assert _post_raw(port, body, {"Sec-Fetch-Site": "cross-site"}) == 403
            assert _post_raw(port, body, {"Host": "evil.example"}) == 421  # DNS rebinding: a name not ours
            req = urllib.request.Request(f"http://127.0.0.1:{port}/state", headers={"Host": f"rebind.example:{port}"})
            with pytest.raises(urllib.error.HTTPError) as e:
                urllib.request.urlopen(req, timeout=5)
            assert e.value.code == 421
            time.sleep(0.3)
            assert show.effect.style_index == 0
            assert _post_raw(port, body, {"Origin": f"http://127.0.0.1:{port}", "Sec-Fetch-Site": "same-origin"}) == 200
            assert _post_raw(port, body, {"Host": f"localhost:{port}"}) == 200
    finally:
        server.stop()
    server = WebServer("127.0.0.1", free_port(), token="s3cret-token").start()
    try:  # a non-ASCII token is a 401, not a 500
        for token in ("ünïcode", "\u2603" * 3):
            req = urllib.request.Request(server.url.split("?")[0] + "state", headers={"X-Token": token.encode().decode("latin-1")})
            with pytest.raises(urllib.error.HTTPError) as e:
                urllib.request.urlopen(req, timeout=5)
            assert e.value.code == 401
        with pytest.raises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(server.url.split("?")[0] + "state?token=%C3%BC%E2%98%83", timeout=5)
        assert e.value.code == 401
    finally:
        server.stop()


def _osc_bundle(address, value, seconds_ahead):
    from pythonosc.osc_bundle_builder import OscBundleBuilder
    from pythonosc.osc_message_builder import OscMessageBuilder

    b = OscBundleBuilder(time.time() + seconds_ahead)
    m = OscMessageBuilder(address)
    m.add_arg(value)
    b.add_content(m.build())
    return b.build()


def test_osc_refuses_bad_values_future_bundles_park_no_thread_and_stop_is_prompt(caplog):
    from pythonosc.udp_client import SimpleUDPClient

    port = free_port(socket.SOCK_DGRAM)
    control = OscControl(port).start()
    client = SimpleUDPClient("127.0.0.1", port)
    try:
        for value in ("0.5", float("nan"), float("inf"), -3.0, True):
            client.send_message("/alpha", value)
        for value in (-1, 1.5, "x" * 300):
            client.send_message("/style", value)
        client.send_message("/record", "maybe")
        client.send_message("/effect", "sideways")
        client.send_message("/no/such", 1)
        client.send_message("/next", 0.0)  # a button's release
        threads = threading.active_count()
        for _ in range(300):  # an hour ahead: applied now, no thread sleeps until then
            client.send(_osc_bundle("/alpha", 0.25, 3600))
        deadline, got = time.monotonic() + 5, []
        while ("style", 1) not in got and time.monotonic() < deadline:
            client.send_message("/style", 1)  # (again until it lands: UDP may drop some of a burst)
            time.sleep(0.1)
            got += control.poll()
        # applied on arrival: the message after the burst is not held back by an hour's wait
        assert ("style", 1) in got and set(got) == {("alpha", 0.25), ("style", 1)}
        assert got.count(("alpha", 0.25)) > 100
        assert threading.active_count() <= threads
        warnings = [r.getMessage() for r in caplog.records if "OSC: ignored" in r.getMessage()]
        assert len(warnings) == len(set(warnings)) >= 4  # one line per kind of bad message
    finally:
        t = time.monotonic()
        control.stop()
        assert time.monotonic() - t < 2.0


def test_osc_listens_on_loopback_and_beyond_it_obeys_only_the_allowed_senders():
    from offline.errors import UserError
    from realtime.net import parse_allow
    from realtime.osc import check_allow, parse_address as osc_address

    assert osc_address("9000") == ("127.0.0.1", 9000)
    with pytest.raises(UserError, match="--osc-allow"):
        check_allow("0.0.0.0", None)
    with pytest.raises(UserError):
        parse_allow("not-an-ip")
    port = free_port(socket.SOCK_DGRAM)
    control = OscControl(port)
    assert control.server.server_address[0] == "127.0.0.1"
    control.server.server_close()
    # a server that obeys 10.9.8.7 only: a message from this machine's non-loopback self would be
    # refused; from loopback it is taken (the operator's own machine)
    control = OscControl(free_port(socket.SOCK_DGRAM), allow=parse_allow("10.9.8.7"))
    assert control.server.verify_request((b"/next\x00\x00\x00,\x00\x00\x00", None), ("10.9.8.7", 1))
    assert not control.server.verify_request((b"/next\x00\x00\x00,\x00\x00\x00", None), ("192.168.1.5", 1))
    assert control.server.verify_request((b"/next\x00\x00\x00,\x00\x00\x00", None), ("127.0.0.1", 1))
    control.server.server_close()


# --- a real browser ------------------------------------------------------------------------------

async def _browse(url, server_state):
    """Two screenshots of ``url`` a second apart, then a click on the 'next' button; returns
    (png1, png2, style index before, after)."""
    async with headless_page() as page:
        await page.call("Page.navigate", url=url)
        await asyncio.sleep(2.0)
        shot1 = await page.screenshot()
        await asyncio.sleep(1.0)
        shot2 = await page.screenshot()
        before = server_state()
        await page.evaluate("document.getElementById('next').click()")
        await asyncio.sleep(1.0)
        return shot1, shot2, before, server_state()


@pytest.mark.slow
@pytest.mark.skipif(CHROMIUM is None, reason="needs Chromium (apt-get install chromium)")
def test_in_a_real_browser_the_stream_moves_and_next_changes_the_style():
    port = free_port()
    server = WebServer("0.0.0.0", port).start()  # beyond loopback: the page is opened with its token
    try:
        with FakeShow(server) as show:
            shot1, shot2, before, after = asyncio.run(
                _browse(f"http://127.0.0.1:{port}/?token={server.token}", lambda: show.effect.style_index))
        a = cv2.imdecode(np.frombuffer(shot1, np.uint8), cv2.IMREAD_COLOR)
        b = cv2.imdecode(np.frombuffer(shot2, np.uint8), cv2.IMREAD_COLOR)
        assert a.shape == b.shape and np.abs(a.astype(int) - b).mean() > 0.1  # the stream moves
        assert a[..., 2].max() == 255  # the stream is on the page (style 0 paints the red channel)
        assert (before, after) == (0, 1)  # the page's button reached the loop
    finally:
        server.stop()


# --- the virtual camera ----------------------------------------------------------------------------

def test_virtual_camera_sends_every_frame_and_says_what_to_install(monkeypatch):
    import sys
    import types

    from offline.errors import UserError
    from realtime.virtualcam import VirtualCamera

    sent = []

    class Camera:
        def __init__(self, width, height, fps, device=None):
            if width == 1:
                raise RuntimeError("'v4l2loopback' backend: No v4l2 loopback device found")
            self.width, self.height, self.device = width, height, "/dev/video9"

        def send(self, frame):
            sent.append(frame.shape)

        def close(self):
            sent.append("closed")

    monkeypatch.setitem(sys.modules, "pyvirtualcam", types.SimpleNamespace(Camera=Camera))
    cam = VirtualCamera(30)
    for _ in range(3):
        cam.publish(np.zeros((24, 32, 3), np.uint8))
    cam.stop()
    assert sent == [(24, 32, 3)] * 3 + ["closed"]
    with pytest.raises(UserError, match="modprobe v4l2loopback|OBS"):
        VirtualCamera(30).open((1, 1))


@pytest.mark.skipif(not any(os.path.exists(f"/dev/video{i}") for i in range(10)), reason="no v4l2loopback device")
def test_virtual_camera_on_a_real_loopback_device():
    pytest.importorskip("pyvirtualcam")
    from realtime.virtualcam import VirtualCamera

    cam = VirtualCamera(30)
    try:
        cam.publish(np.zeros((48, 64, 3), np.uint8))
        assert (cam.camera.width, cam.camera.height) == (64, 48)
    finally:
        cam.stop()
