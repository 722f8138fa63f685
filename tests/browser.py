"""Headless Chromium driven over the DevTools protocol (a WebSocket, no extra driver): the browser
test of the show's web page and ``benchmarks/web_page_shot.py`` share it.

    async with headless_page("420,900") as page:
        await page.call("Page.navigate", url=url)
        png = await page.screenshot()
"""

import asyncio
import base64
import contextlib
import os
import shutil
import subprocess
import tempfile
import time

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


class Page:
    def __init__(self, ws, timeout):
        self.ws, self.timeout, self.last_id = ws, timeout, 0

    async def call(self, method, **params):
        """One DevTools command; its result (events arriving meanwhile are skipped)."""
        self.last_id += 1
        await self.ws.send_json({"id": self.last_id, "method": method, "params": params})
        while True:
            msg = await self.ws.receive_json(timeout=self.timeout)
            if msg.get("id") == self.last_id:
                return msg.get("result", {})

    async def screenshot(self):
        """The page as PNG bytes."""
        return base64.b64decode((await self.call("Page.captureScreenshot"))["data"])

    async def evaluate(self, expression):
        return await self.call("Runtime.evaluate", expression=expression)


@contextlib.asynccontextmanager
async def headless_page(size="640,480", timeout=30):
    """A fresh headless Chromium (its own profile, removed after) showing about:blank."""
    import aiohttp

    if CHROMIUM is None:
        raise RuntimeError("needs Chromium (apt-get install chromium)")
    profile = tempfile.mkdtemp()
    proc = subprocess.Popen([CHROMIUM, "--headless=new", "--no-sandbox", "--disable-gpu", "--remote-debugging-port=0",
                             f"--user-data-dir={profile}", f"--window-size={size}", "--hide-scrollbars",
                             "about:blank"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        port_file = os.path.join(profile, "DevToolsActivePort")  # Chromium writes its port here
        deadline = time.monotonic() + timeout
        while not os.path.exists(port_file) and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        port = int(open(port_file).read().split()[0])
        async with aiohttp.ClientSession() as http:
            async with http.get(f"http://127.0.0.1:{port}/json/list") as r:
                target = next(t for t in await r.json() if t["type"] == "page")
            async with http.ws_connect(target["webSocketDebuggerUrl"], max_msg_size=0) as ws:
                page = Page(ws, timeout)
                await page.call("Page.enable")
                yield page
    finally:
        proc.kill()
        proc.wait()
        shutil.rmtree(profile, ignore_errors=True)
