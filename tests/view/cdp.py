"""Headless Chromium driven over the DevTools protocol (websocket-client), for the viewer's browser tests.

Chromium runs with SwiftShader (WebGL on the CPU), so no GPU or display is needed.
"""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
import time
import urllib.request
from pathlib import Path

import cv2
import numpy as np

__all__ = ["Browser", "find_chromium"]

FLAGS = [
    "--headless",
    "--no-sandbox",  # CI runs as root
    "--use-angle=swiftshader",
    "--enable-unsafe-swiftshader",
    "--autoplay-policy=no-user-gesture-required",
    "--mute-audio",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-extensions",
    "--disable-background-networking",
    "--disable-dev-shm-usage",
    "--hide-scrollbars",
    "--remote-allow-origins=*",
]


def find_chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if path := shutil.which(name):
            return path
    return None


class Browser:
    """One headless Chromium with one tab; ``call`` sends a DevTools command to the tab."""

    def __init__(self, profile: Path, width: int = 640, height: int = 360, timeout: float = 30) -> None:
        import websocket  # websocket-client, a test extra

        self.width, self.height = width, height
        exe = find_chromium()
        if exe is None:
            raise RuntimeError("no chromium")
        self.process = subprocess.Popen(
            [exe, *FLAGS, f"--user-data-dir={profile}", "--remote-debugging-port=0",
             f"--window-size={width},{height}", "about:blank"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        port_file = profile / "DevToolsActivePort"
        end = time.monotonic() + timeout
        while not (port_file.exists() and port_file.read_text().strip()):
            if time.monotonic() > end or self.process.poll() is not None:
                self.close()
                raise RuntimeError("chromium did not start its DevTools server")
            time.sleep(0.05)
        port = int(port_file.read_text().split()[0])
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as r:
            pages = [t for t in json.load(r) if t["type"] == "page"]
        self.ws = websocket.create_connection(pages[0]["webSocketDebuggerUrl"], timeout=timeout, suppress_origin=True)
        self._id = 0
        self.call("Page.enable")
        self.call("Runtime.enable")
        self.call("Emulation.setDeviceMetricsOverride", width=width, height=height, deviceScaleFactor=1, mobile=False)

    def call(self, method: str, **params) -> dict:
        """Send one command and return its result (events in between are dropped)."""
        self._id += 1
        self.ws.send(json.dumps({"id": self._id, "method": method, "params": params}))
        while True:
            reply = json.loads(self.ws.recv())
            if reply.get("id") == self._id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply["result"]

    def evaluate(self, expression: str):
        """The JSON value of a JavaScript expression in the page."""
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def wait_for(self, expression: str, timeout: float = 20):
        """Poll until the expression is truthy; its last value."""
        end = time.monotonic() + timeout
        while True:
            value = self.evaluate(expression)
            if value or time.monotonic() > end:
                return value
            time.sleep(0.05)

    def open(self, url: str) -> None:
        self.call("Page.navigate", url=url)

    def viewer(self) -> dict:
        """The page's ``window.viewer`` state without the video element."""
        return self.evaluate(
            "window.viewer && Object.fromEntries(Object.entries(window.viewer).filter(([k]) => k !== 'video'))"
        )

    def settle(self, timeout: float = 20) -> dict:
        """Wait until the page has drawn its picture and then one more frame; the viewer state."""
        if not self.wait_for("window.viewer && (window.viewer.ready || window.viewer.error)", timeout):
            raise AssertionError(f"the viewer drew nothing; state {self.viewer()}")
        state = self.viewer()
        if state["error"]:
            raise AssertionError(f"the page says: {state['error']}")
        self.evaluate("new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")
        return self.viewer()

    def screenshot(self) -> np.ndarray:
        """The tab as ``uint8 (H, W, 3)`` RGB."""
        data = base64.b64decode(self.call("Page.captureScreenshot", format="png")["data"])
        image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
        return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)

    def drag(self, start: tuple[int, int], end: tuple[int, int], steps: int = 12) -> None:
        """A real left-button mouse drag: press, moves, release (the page sees pointer events)."""
        mouse = lambda kind, x, y, **kw: self.call(  # noqa: E731
            "Input.dispatchMouseEvent", type=kind, x=x, y=y, button="left", **kw
        )
        mouse("mouseMoved", *start, buttons=0)
        mouse("mousePressed", *start, buttons=1, clickCount=1)
        for i in range(1, steps + 1):
            x = start[0] + (end[0] - start[0]) * i / steps
            y = start[1] + (end[1] - start[1]) * i / steps
            mouse("mouseMoved", x, y, buttons=1)
        mouse("mouseReleased", *end, buttons=0, clickCount=1)

    def swipe(self, start: tuple[int, int], end: tuple[int, int], steps: int = 12) -> None:
        """A one-finger touch drag (the page sees touch pointer events)."""
        touch = lambda kind, points: self.call("Input.dispatchTouchEvent", type=kind, touchPoints=points)  # noqa: E731
        touch("touchStart", [{"x": start[0], "y": start[1], "id": 1}])
        for i in range(1, steps + 1):
            x = start[0] + (end[0] - start[0]) * i / steps
            y = start[1] + (end[1] - start[1]) * i / steps
            touch("touchMove", [{"x": x, "y": y, "id": 1}])
        touch("touchEnd", [])

    def close(self) -> None:
        try:
            if getattr(self, "ws", None) is not None:
                self.ws.close()
        finally:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
