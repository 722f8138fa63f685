"""A screenshot of the show's web page, as a phone would show it: ``realtime run --serve`` in a
subprocess, headless Chromium on the page (the DevTools protocol, as the browser test does).

    python benchmarks/web_page_shot.py -o docs/images/web_page.png -- --source demo --effect stylize
"""

import argparse
import asyncio
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from browser import headless_page  # noqa: E402 (tests/browser.py: the browser test's DevTools driver)


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
    async with headless_page(size, timeout=60) as page:
        await page.call("Page.navigate", url=url)
        await asyncio.sleep(wait)
        return await page.screenshot()


if __name__ == "__main__":
    main()
