"""A screenshot of the show's web page, as a phone would show it: ``realtime run --serve`` in a
subprocess, headless Chromium on the page (the DevTools protocol, as the browser test does).

    python benchmarks/web_page_shot.py -o docs/images/web_page.png -- --source demo --effect stylize
"""

import argparse
import asyncio
import base64
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("-o", "--output", required=True)
    ap.add_argument("--size", default="420,900", help="browser window W,H (a phone held upright)")
    ap.add_argument("--wait", type=float, default=8.0, help="seconds on the page before the screenshot")
    ap.add_argument("args", nargs=argparse.REMAINDER)
    a = ap.parse_args()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    extra = [x for x in a.args if x != "--"]
    show = subprocess.Popen([sys.executable, "-m", "realtime", "run", "--no-display", "--serve", str(port), *extra],
                            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/state", timeout=1)
                break
            except OSError:
                time.sleep(0.5)
        png = asyncio.run(shot(f"http://127.0.0.1:{port}/", a.size, a.wait))
        Path(a.output).write_bytes(png)
        print(f"wrote {a.output}")
    finally:
        show.terminate()
        show.wait(30)


async def shot(url, size, wait):
    import shutil
    import tempfile

    import aiohttp

    chromium = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    profile = tempfile.mkdtemp()
    proc = subprocess.Popen([chromium, "--headless=new", "--no-sandbox", "--disable-gpu", "--remote-debugging-port=0",
                             f"--user-data-dir={profile}", f"--window-size={size}", "--hide-scrollbars", "about:blank"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        port_file = os.path.join(profile, "DevToolsActivePort")
        while not os.path.exists(port_file):
            await asyncio.sleep(0.1)
        port = int(open(port_file).read().split()[0])
        async with aiohttp.ClientSession() as http:
            async with http.get(f"http://127.0.0.1:{port}/json/list") as r:
                page = next(t for t in await r.json() if t["type"] == "page")
            async with http.ws_connect(page["webSocketDebuggerUrl"], max_msg_size=0) as ws:
                n = 0

                async def call(method, **params):
                    nonlocal n
                    n += 1
                    await ws.send_json({"id": n, "method": method, "params": params})
                    while True:
                        msg = await ws.receive_json(timeout=60)
                        if msg.get("id") == n:
                            return msg.get("result", {})

                await call("Page.navigate", url=url)
                await asyncio.sleep(wait)
                return base64.b64decode((await call("Page.captureScreenshot"))["data"])
    finally:
        proc.kill()
        proc.wait()
        shutil.rmtree(profile, ignore_errors=True)


if __name__ == "__main__":
    main()
