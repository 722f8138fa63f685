"""What the live outputs cost the loop: FPS with each sink and control off and on, side by side in
one run; latency from capture to a frame received by a stream client; 20 viewers, one stalled.

    python benchmarks/live_outputs.py --seconds 5 --pairs 5 --json-out /tmp/live.json

Each window runs ``realtime.loop.run`` on the demo source at 640x360 with the stylize effect (the
default model) for ``--seconds``, headless. Per output (the web page with no viewer, one viewer,
20 viewers of which one never reads; OSC listening and receiving 10 messages a second) the windows
alternate loop alone / output on, ``--pairs`` times, ending alone; the cost is the median over
the "on" windows of 1 - FPS on / the mean FPS of the two alone windows beside it. The viewer that
measures latency is an HTTP client in a thread of this process, the others ``curl`` processes
draining the stream (on the same two cores); latency is the stream's X-Captured header (the
frame's capture time) against the time the client received the whole JPEG.
"""

import argparse
import json
import os
import resource
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def free_port(kind=socket.SOCK_STREAM):
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Viewer(threading.Thread):
    """Reads the MJPEG stream; records (receive time - capture time) per frame. ``parse=False``
    only drains the bytes: the viewers share this machine's two cores with the loop, and 19 Python
    parsers would measure themselves rather than the server."""

    def __init__(self, url, parse=True):
        super().__init__(daemon=True)
        self.url, self.parse, self.latencies, self.frames, self.stop = url, parse, [], 0, threading.Event()

    def run(self):
        try:
            self._read()
        except OSError:  # the window ended and the server went away under a blocked read
            if not self.stop.is_set():
                raise

    def _read(self):
        with urllib.request.urlopen(self.url, timeout=10) as r:
            buf = b""
            while not self.stop.is_set():
                data = r.read1(262144)
                if not self.parse:
                    continue
                buf += data
                while True:
                    start = buf.find(b"--frame\r\n")
                    head_end = buf.find(b"\r\n\r\n", start)
                    if start < 0 or head_end < 0:
                        break
                    headers = dict(line.split(b": ", 1) for line in buf[start + 9:head_end].split(b"\r\n") if b": " in line)
                    length = int(headers[b"Content-Length"])
                    if len(buf) < head_end + 4 + length:
                        break
                    received = time.perf_counter()
                    if b"X-Captured" in headers:
                        self.latencies.append(received - float(headers[b"X-Captured"]))
                    self.frames += 1
                    buf = buf[head_end + 4 + length:]


def one_row(name, effect, seconds, serve=False, viewers=0, stalled=0, osc=False):
    from realtime.loop import run
    from realtime.sources import LatestFrame, open_source

    src = open_source("demo", (640, 360))
    controls, publishers, clients, sockets, drains = [], [], [], [], []
    server = None
    if serve:
        from realtime.web import WebServer

        server = WebServer("127.0.0.1", free_port(), max_clients=max(20, viewers + stalled)).start()
        controls.append(server)
        publishers.append(server)
        for _ in range(stalled):  # connects, asks for the stream, never reads
            s = socket.create_connection(("127.0.0.1", server.port))
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            s.sendall(b"GET /stream HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            sockets.append(s)
        url = f"http://127.0.0.1:{server.port}/stream"
        for i in range(viewers):
            if i > 0 and shutil.which("curl"):
                # the other viewers only drain the stream, in curl processes: Python threads here
                # would measure their own CPU and the GIL they take from the loop, not the server
                drains.append(subprocess.Popen(["curl", "-s", "-o", "/dev/null", url]))
                continue
            v = Viewer(url, parse=i == 0)
            v.start()
            clients.append(v)
    sender = None
    if osc:
        from pythonosc.udp_client import SimpleUDPClient

        from realtime.osc import OscControl

        port = free_port(socket.SOCK_DGRAM)
        controls.append(OscControl(port, host="127.0.0.1").start())
        stop_sending = threading.Event()

        def send():
            c = SimpleUDPClient("127.0.0.1", port)
            while not stop_sending.is_set():
                c.send_message("/alpha", 1.0)
                time.sleep(0.1)

        sender = threading.Thread(target=send, daemon=True)
        sender.start()
    rss0 = rss()
    max_frames = int(seconds * 30)
    with LatestFrame(src) as capture:
        t = time.perf_counter()
        stats = run(capture, effect, max_frames=max_frames, controls=controls, publishers=publishers)
        wall = time.perf_counter() - t
    row = {"row": name, "frames": stats.frames, "fps": round(stats.frames / wall, 2),
           "loop_latency_p50_ms": stats.summary()["latency_p50_ms"], "rss_start_mb": rss0, "rss_end_mb": rss()}
    lat = [x for v in clients for x in v.latencies[3:]]
    if lat:
        row.update(viewer_latency_p50_ms=round(1000 * float(np.percentile(lat, 50)), 1),
                   viewer_latency_p99_ms=round(1000 * float(np.percentile(lat, 99)), 1),
                   viewer_frames=[v.frames for v in clients][:3])
    for v in clients:
        v.stop.set()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    for d in drains:
        d.terminate()
        d.wait()
    if drains:  # the curl viewers' own CPU (counted once reaped), in % of one of the two cores
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        used = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
        row["viewers_cpu_pct"] = round(100 * used / wall, 1)
    for s in sockets:
        s.close()
    if osc:
        stop_sending.set()
    for c in controls:
        c.stop()
    return row


def rss():
    with open("/proc/self/statm") as f:
        return round(int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20)


CONDITIONS = (("web page, no viewer", {"serve": True}),
              ("web page, 1 viewer", {"serve": True, "viewers": 1}),
              ("web page, 20 viewers (1 stalled)", {"serve": True, "viewers": 19, "stalled": 1}),
              ("OSC, 10 messages/s", {"osc": True}))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float, default=5.0, help="seconds a window")
    ap.add_argument("--pairs", type=int, default=5, help="windows with the output on, per output")
    ap.add_argument("--effect", default="stylize")
    ap.add_argument("--only", default="", help="only the outputs whose name contains this")
    ap.add_argument("--json-out", default=None)
    args = ap.parse_args()
    from offline.effects import build_effect

    effect = build_effect(args.effect, weights_dir=os.environ.get("STUDIO_WEIGHTS_DIR"))
    effect.warmup((640, 360))
    rows = []
    for name, kw in [c for c in CONDITIONS if args.only in c[0]]:
        # alone, on, alone, on, ... alone: each "on" window against the mean of the two beside it,
        # so that the shared machine's slow spells (larger than 5% here) fall on both sides
        alone = [one_row("loop alone", effect, args.seconds)]
        on = []
        for _ in range(args.pairs):
            on.append(one_row(name, effect, args.seconds, **kw))
            alone.append(one_row("loop alone", effect, args.seconds))
        ratios = [100 * (r["fps"] / ((alone[k]["fps"] + alone[k + 1]["fps"]) / 2) - 1) for k, r in enumerate(on)]
        lat = [r for r in on if "viewer_latency_p50_ms" in r]
        row = {"row": name, "fps": round(float(np.mean([r["fps"] for r in on])), 2),
               "alone_fps": round(float(np.mean([r["fps"] for r in alone])), 2),
               "overhead_pct": round(-float(np.median(ratios)), 1), "overhead_pct_pairs": [round(-x, 1) for x in ratios],
               "rss_start_mb": alone[0]["rss_start_mb"], "rss_end_mb": alone[-1]["rss_end_mb"]}
        if any("viewers_cpu_pct" in r for r in on):
            row["viewers_cpu_pct"] = round(float(np.mean([r.get("viewers_cpu_pct", 0) for r in on])), 1)
        if lat:
            row.update(viewer_latency_p50_ms=round(float(np.median([r["viewer_latency_p50_ms"] for r in lat])), 1),
                       viewer_latency_p99_ms=round(float(np.median([r["viewer_latency_p99_ms"] for r in lat])), 1))
        print(row, flush=True)
        rows.append(row)
    print("\n| output | loop FPS on | loop FPS alone | cost (median of pairs) | pairs | capture -> viewer p50 / p99 (ms) "
          "| RSS start -> end (MB) |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        lat = f"{r['viewer_latency_p50_ms']} / {r['viewer_latency_p99_ms']}" if "viewer_latency_p50_ms" in r else "-"
        pairs = ", ".join(f"{x:+.1f}" for x in r["overhead_pct_pairs"])
        print(f"| {r['row']} | {r['fps']} | {r['alone_fps']} | {r['overhead_pct']:+.1f}% | {pairs} | {lat} | "
              f"{r['rss_start_mb']} -> {r['rss_end_mb']} |")
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
