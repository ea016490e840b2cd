"""Headless Chromium for the report tests: a screenshot (``--screenshot``), and a page check
over the DevTools protocol (a tiny client on ``websocket-client``): every image loaded, no
console error, no failed request. Every step is bounded in time."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

FLAGS = ["--headless", "--disable-gpu", "--no-sandbox", "--no-first-run",
         "--disable-extensions", "--disable-background-networking"]  # fmt: skip

IMAGES_JS = """JSON.stringify(Array.from(document.images).map(img => ({
  src: img.src.slice(0, 40), complete: img.complete, width: img.naturalWidth,
  height: img.naturalHeight})))"""


def chromium() -> str | None:
    """The Chromium binary, or None."""
    return shutil.which("chromium") or shutil.which("chromium-browser")


def screenshot(page: Path, png: Path, size: tuple[int, int] = (1280, 2000),
               timeout: float = 60) -> Path:  # fmt: skip
    """Save a screenshot of ``page`` (a local HTML file) to ``png``."""
    # Chromium's helper processes may still write into the profile as it closes
    with tempfile.TemporaryDirectory(ignore_cleanup_errors=True) as profile:
        subprocess.run(
            [chromium(), *FLAGS, f"--user-data-dir={profile}", "--hide-scrollbars",
             f"--screenshot={png}", f"--window-size={size[0]},{size[1]}", page.as_uri()],
            check=True, timeout=timeout, capture_output=True,
        )  # fmt: skip
    return png


@contextlib.contextmanager
def _browser(timeout: float) -> Iterator[int]:
    """A headless Chromium with remote debugging; yields its port."""
    with tempfile.TemporaryDirectory(ignore_cleanup_errors=True) as profile:
        proc = subprocess.Popen(
            [chromium(), *FLAGS, f"--user-data-dir={profile}", "--remote-debugging-port=0",
             "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
        try:
            marker = Path(profile, "DevToolsActivePort")
            deadline = time.monotonic() + timeout
            while not (marker.exists() and marker.read_text().strip()):
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError("chromium did not open its debugging port")
                time.sleep(0.1)
            yield int(marker.read_text().split()[0])
        finally:  # the browser and its helper processes (one process group)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)


class _Session:
    def __init__(self, ws) -> None:
        self.ws, self.next_id, self.events = ws, 0, []

    def send(self, method: str, params: dict | None = None, timeout: float = 30) -> dict:
        self.next_id += 1
        self.ws.send(json.dumps({"id": self.next_id, "method": method, "params": params or {}}))
        return self.wait(lambda m: m.get("id") == self.next_id, timeout)

    def wait(self, done, timeout: float) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.ws.settimeout(max(deadline - time.monotonic(), 0.05))
            message = json.loads(self.ws.recv())
            if "method" in message:
                self.events.append(message)
            if done(message):
                return message
        raise TimeoutError("no answer from chromium in time")


def check_page(page: Path, timeout: float = 60) -> dict:
    """Load ``page`` in headless Chromium and report its images and errors.

    Returns
    -------
    dict
        ``images``: ``[{src, complete, width, height}]``; ``errors``: console errors,
        uncaught exceptions, error log entries and failed requests, as text.
    """
    import websocket

    with _browser(timeout) as port:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as r:
            targets = [t for t in json.load(r) if t.get("type") == "page"]
        ws = websocket.create_connection(targets[0]["webSocketDebuggerUrl"], timeout=timeout,
                                         suppress_origin=True)  # fmt: skip
        try:
            s = _Session(ws)
            for domain in ("Page", "Runtime", "Log", "Network"):
                s.send(f"{domain}.enable")
            s.send("Page.navigate", {"url": page.as_uri()})
            s.wait(lambda m: m.get("method") == "Page.loadEventFired", timeout)
            result = s.send("Runtime.evaluate", {"expression": IMAGES_JS, "returnByValue": True})
            images = json.loads(result["result"]["result"]["value"])
        finally:
            ws.close()
    errors = []
    for event in s.events:
        method, params = event["method"], event.get("params", {})
        if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
            errors.append(f"console: {params.get('args')}")
        elif method == "Runtime.exceptionThrown":
            errors.append(f"exception: {params.get('exceptionDetails', {}).get('text')}")
        elif method == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
            errors.append(f"log: {params['entry'].get('text')} {params['entry'].get('url')}")
        elif method == "Network.loadingFailed":
            errors.append(f"request failed: {params.get('errorText')}")
    return {"images": images, "errors": errors}
