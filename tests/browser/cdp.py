"""A small driver for headless Chromium over the DevTools protocol, with Debian's
python3-websockets only: start a browser, open a page, evaluate JavaScript, wait for a condition,
take a screenshot. Every wait is bounded; the browser is stopped by PID."""

import asyncio
import base64
import itertools
import json
import os
import shutil
import subprocess
import tempfile
import time

import websockets

import harness

CHROMIUM = os.environ.get("TB_CHROMIUM", "/usr/bin/chromium")


class Browser:
    def __init__(self, width=412, height=915, extra_args=()):
        self.profile = tempfile.mkdtemp(prefix="tb-chromium-")
        self.proc = subprocess.Popen(
            [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             "--disable-quic", "--no-first-run", "--user-data-dir=" + self.profile,
             f"--window-size={width},{height}", "--remote-debugging-address=127.0.0.1",
             "--remote-debugging-port=0", *extra_args, "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        port_file = os.path.join(self.profile, "DevToolsActivePort")
        deadline = time.time() + 30
        while not os.path.exists(port_file) or len(open(port_file).read().split()) < 2:
            if time.time() > deadline or self.proc.poll() is not None:
                self.close()
                raise RuntimeError("chromium did not start")
            time.sleep(0.05)
        port, path = open(port_file).read().split()[:2]
        self.url = f"ws://127.0.0.1:{port}{path}"
        self.ids = itertools.count(1)
        self.ws = None
        self.session = None
        self.loop = asyncio.new_event_loop()
        self.loop.run_until_complete(self._connect())

    async def _connect(self):
        self.ws = await websockets.connect(self.url, max_size=64 * 1024 * 1024)
        target = await self._call("Target.createTarget", {"url": "about:blank"})
        attached = await self._call("Target.attachToTarget",
                                    {"targetId": target["targetId"], "flatten": True})
        self.session = attached["sessionId"]
        await self._call("Page.enable", session=True)
        await self._call("Runtime.enable", session=True)

    async def _call(self, method, params=None, session=False, timeout=20):
        msg_id = next(self.ids)
        msg = {"id": msg_id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = self.session
        await self.ws.send(json.dumps(msg))
        deadline = time.time() + timeout
        while True:
            left = deadline - time.time()
            if left <= 0:
                raise TimeoutError(method)
            reply = json.loads(await asyncio.wait_for(self.ws.recv(), left))
            if reply.get("id") == msg_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})

    def call(self, method, params=None):
        return self.loop.run_until_complete(self._call(method, params, session=True))

    def goto(self, url):
        self.call("Page.navigate", {"url": url})

    def eval(self, expression):
        r = self.call("Runtime.evaluate", {"expression": expression, "returnByValue": True})
        if "exceptionDetails" in r:
            raise RuntimeError(f"{expression}: {r['exceptionDetails']}")
        return r["result"].get("value")

    def wait_for(self, expression, timeout=10.0):
        """Waits until `expression` is truthy; returns its value, or raises with the page state."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            try:
                value = self.eval(expression)
                if value:
                    return value
            except RuntimeError:
                pass
            time.sleep(0.05)
        state = self.eval("document.body ? document.body.dataset.ticketState : 'no body'")
        raise AssertionError(f"timed out waiting for {expression} (ticket state: {state})")

    def screenshot(self, path):
        data = self.call("Page.captureScreenshot", {"format": "png"})["data"]
        with open(path, "wb") as f:
            f.write(base64.b64decode(data))

    def close(self):
        try:
            if self.ws is not None:
                self.loop.run_until_complete(self.ws.close())
        except Exception:
            pass
        harness.stop(self.proc)
        shutil.rmtree(self.profile, ignore_errors=True)
