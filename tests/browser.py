"""A real headless browser for page tests: Debian's `chromium`, driven over the DevTools protocol on a pipe.

`--remote-debugging-pipe` makes chromium read protocol commands from fd 3 and write replies and events to
fd 4, each message a JSON object ended by a NUL byte. No port, no websocket, nothing downloaded: the
browser is the system's. Every wait is for a protocol message, bounded by a deadline.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import json
import os
import select
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CHROMIUM = shutil.which("chromium")
MISSING_REASON = (
    "chromium is not installed, so pages are not checked in a browser: run `make browser` "
    "(as root with apt) or `apt-get install -y chromium`"
)
FLAGS = (
    "--headless",
    "--no-sandbox",  # we run as root in a container; the page itself is what is under test
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--disable-default-apps",
    "--no-first-run",
    "--no-default-browser-check",
    "--mute-audio",
    "--remote-debugging-pipe",
)


class BrowserError(RuntimeError):
    pass


@dataclass
class PageLoad:
    """What happened while a page loaded: everything a test may assert about."""

    url: str
    requests: list[str] = field(default_factory=list)  # every URL the page asked for, itself included
    responses: list[str] = field(default_factory=list)  # the URLs that were actually answered
    blocked: dict[str, str] = field(default_factory=dict)  # URL -> why the browser refused to load it
    console: list[dict[str, Any]] = field(default_factory=list)  # console calls and log entries
    exceptions: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)

    @property
    def errors(self) -> list[str]:
        said = [
            str(entry.get("text", ""))
            for entry in self.console
            if entry.get("level") in ("error", "warning", "assert")
        ]
        return said + self.exceptions

    @property
    def other_requests(self) -> list[str]:
        """Requests for anything but the page itself; `data:` URLs are the browser's own icons (a broken
        image), drawn without any fetch."""
        return [url for url in self.requests if url != self.url and not url.startswith("data:")]


class Browser:
    def __init__(self, profile: Path, *, timeout: float = 30.0):
        if CHROMIUM is None:
            raise BrowserError(MISSING_REASON)
        self.timeout = timeout
        to_browser_r, self._to_browser = os.pipe()
        self._from_browser, from_browser_w = os.pipe()

        def wire_pipes() -> None:  # in the child: the protocol's fds are 3 (commands in) and 4 (out)
            # first out of the way (either may already be 3 or 4), then into place, inheritable
            high = [fcntl.fcntl(fd, fcntl.F_DUPFD, 10) for fd in (to_browser_r, from_browser_w)]
            for target, fd in zip((3, 4), high, strict=True):
                os.dup2(fd, target)
                os.set_inheritable(target, True)

        self.proc = subprocess.Popen(
            [CHROMIUM, *FLAGS, f"--user-data-dir={profile}", "about:blank"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            preexec_fn=wire_pipes,
            close_fds=False,  # fds 3 and 4 must survive exec; our own fds are close-on-exec (PEP 446)
        )
        os.close(to_browser_r)
        os.close(from_browser_w)
        self._buffer = b""
        self._next_id = 0
        self._events: list[dict[str, Any]] = []

    # --- the protocol ----------------------------------------------------------------------------------

    def _read_message(self, deadline: float) -> dict[str, Any]:
        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                raise BrowserError("chromium did not answer in time")
            ready, _, _ = select.select([self._from_browser], [], [], left)
            if ready:
                chunk = os.read(self._from_browser, 1 << 20)
                if not chunk:
                    raise BrowserError(f"chromium closed the protocol pipe (exit code {self.proc.poll()})")
                self._buffer += chunk
        raw, self._buffer = self._buffer.split(b"\0", 1)
        return dict(json.loads(raw))

    def send(self, method: str, params: dict[str, Any] | None = None, session: str | None = None) -> Any:
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        os.write(self._to_browser, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + self.timeout
        while True:
            reply = self._read_message(deadline)
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise BrowserError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            self._events.append(reply)

    def wait_for(self, method: str, session: str) -> dict[str, Any]:
        deadline = time.monotonic() + self.timeout
        for i, event in enumerate(self._events):
            if event.get("method") == method and event.get("sessionId") == session:
                return self._events.pop(i)
        while True:
            event = self._read_message(deadline)
            if event.get("method") == method and event.get("sessionId") == session:
                return event
            self._events.append(event)

    # --- pages -----------------------------------------------------------------------------------------

    def open(self, path: Path, *, width: int = 1280, height: int = 900) -> Page:
        target = self.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        for domain in ("Page", "Runtime", "Log", "Network"):
            self.send(f"{domain}.enable", session=session)
        self.send(
            "Emulation.setDeviceMetricsOverride",
            {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
            session=session,
        )
        url = path.resolve().as_uri()
        self._events.clear()
        self.send("Page.navigate", {"url": url}, session=session)
        self.wait_for("Page.loadEventFired", session)
        # a marker evaluated after load: every event the load caused arrives before its reply
        self.send("Runtime.evaluate", {"expression": "1"}, session=session)
        load = PageLoad(url)
        ids: dict[str, str] = {}
        for event in self._events:
            if event.get("sessionId") != session:
                continue
            params = event.get("params", {})
            method = event.get("method")
            if method == "Network.requestWillBeSent":
                load.requests.append(params["request"]["url"])
                ids[params["requestId"]] = params["request"]["url"]
            elif method == "Network.responseReceived":
                load.responses.append(params["response"]["url"])
            elif method == "Network.loadingFailed":
                reason = params.get("blockedReason") or params.get("errorText", "")
                load.blocked[ids.get(params["requestId"], "?")] = str(reason)
            elif method == "Runtime.consoleAPICalled":
                texts = [str(a.get("value", a.get("description", ""))) for a in params.get("args", [])]
                load.console.append({"level": params.get("type"), "text": " ".join(texts)})
            elif method == "Log.entryAdded":
                entry = params.get("entry", {})
                load.console.append({"level": entry.get("level"), "text": entry.get("text", "")})
            elif method == "Runtime.exceptionThrown":
                load.exceptions.append(str(params.get("exceptionDetails", {}).get("text", "")))
            elif method == "Page.javascriptDialogOpening":
                load.dialogs.append(str(params.get("message", "")))
        self._events = [e for e in self._events if e.get("sessionId") != session]
        return Page(self, session, load)

    def close(self) -> None:
        with contextlib.suppress(BrowserError, OSError):  # the browser may exit before it replies
            self.send("Browser.close")
        try:
            self.proc.wait(timeout=self.timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        os.close(self._to_browser)
        os.close(self._from_browser)


class Page:
    def __init__(self, browser: Browser, session: str, load: PageLoad):
        self.browser, self.session, self.load = browser, session, load

    def evaluate(self, expression: str) -> Any:
        reply = self.browser.send(
            "Runtime.evaluate", {"expression": expression, "returnByValue": True}, session=self.session
        )
        if "exceptionDetails" in reply:
            raise BrowserError(f"evaluating {expression!r}: {reply['exceptionDetails']}")
        return reply["result"].get("value")

    def screenshot(self, path: Path, *, max_height: int = 10_000) -> Path:
        """The page as a PNG, all of it up to `max_height` CSS pixels (the browser cannot capture more)."""
        size = self.browser.send("Page.getLayoutMetrics", session=self.session)["cssContentSize"]
        clip = {"x": 0, "y": 0, "width": size["width"], "height": min(size["height"], max_height), "scale": 1}
        data = self.browser.send(
            "Page.captureScreenshot",
            {"format": "png", "captureBeyondViewport": True, "clip": clip},
            session=self.session,
        )["data"]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(data))
        return path
