#!/usr/bin/env python3
"""Drives the page at / in headless Chromium over the DevTools protocol:
puts photos in its drop zones' file inputs, waits for the result, checks it
and saves a screenshot. Python's standard library only (a small WebSocket
client), so it runs without pip.

    page_check.py verify DEVTOOLS_PORT PAGE_URL IMG1 IMG2 EXPECTED OUT.png
        EXPECTED is "Same person" or "Different people".
    page_check.py single DEVTOOLS_PORT PAGE_URL IMG NAME OUT.png
        The page must analyse IMG's one face and recognise NAME, registered before.
"""
import base64
import json
import os
import socket
import struct
import sys
import time
import urllib.request


class WebSocket:
    def __init__(self, url):
        assert url.startswith("ws://")
        hostport, _, path = url[5:].partition("/")
        host, _, port = hostport.partition(":")
        self.sock = socket.create_connection((host, int(port)), timeout=60)
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall((f"GET /{path} HTTP/1.1\r\nHost: {hostport}\r\nUpgrade: websocket\r\n"
                           f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = self.sock.recv(1)
            if not chunk:
                raise RuntimeError("websocket handshake: connection closed")
            head += chunk
        if b" 101 " not in head.split(b"\r\n")[0]:
            raise RuntimeError(f"websocket handshake failed: {head!r}")

    def _read(self, n):
        data = b""
        while len(data) < n:
            chunk = self.sock.recv(n - len(data))
            if not chunk:
                raise RuntimeError("websocket closed")
            data += chunk
        return data

    def send(self, text):
        payload = text.encode()
        mask = os.urandom(4)
        n = len(payload)
        if n < 126:
            header = struct.pack("!BB", 0x81, 0x80 | n)
        elif n < 65536:
            header = struct.pack("!BBH", 0x81, 0x80 | 126, n)
        else:
            header = struct.pack("!BBQ", 0x81, 0x80 | 127, n)
        self.sock.sendall(header + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload)))

    def receive(self):
        message = b""
        while True:
            b0, b1 = self._read(2)
            opcode, n = b0 & 0x0F, b1 & 0x7F
            if n == 126:
                n = struct.unpack("!H", self._read(2))[0]
            elif n == 127:
                n = struct.unpack("!Q", self._read(8))[0]
            payload = self._read(n)
            if opcode == 8:
                raise RuntimeError("websocket closed by the browser")
            if opcode in (1, 0):
                message += payload
                if b0 & 0x80:
                    return message.decode()


class DevTools:
    def __init__(self, ws):
        self.ws = ws
        self.next_id = 0

    def call(self, method, **params):
        self.next_id += 1
        self.ws.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            reply = json.loads(self.ws.receive())
            if reply.get("id") == self.next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})

    def evaluate(self, expression):
        return self.call("Runtime.evaluate", expression=expression, returnByValue=True)["result"].get("value")


def open_page(port, url):
    request = urllib.request.Request(f"http://127.0.0.1:{port}/json/new?{url}", method="PUT")
    target = json.load(urllib.request.urlopen(request))
    tools = DevTools(WebSocket(target["webSocketDebuggerUrl"]))
    tools.call("Emulation.setDeviceMetricsOverride", width=1100, height=1300, deviceScaleFactor=1, mobile=False)
    tools.call("Page.enable")
    tools.call("Page.navigate", url=url)
    deadline = time.time() + 30
    while tools.evaluate("document.readyState") != "complete" or not tools.evaluate("!!document.getElementById('drop3')"):
        if time.time() > deadline:
            raise SystemExit("page_check: the page did not load")
        time.sleep(0.1)
    return tools


def drop(tools, zone, path):
    """Puts a file into a drop zone's file input, as a click-and-choose would."""
    root = tools.call("DOM.getDocument")["root"]["nodeId"]
    node = tools.call("DOM.querySelector", nodeId=root, selector=f"#{zone} input[type=file]")["nodeId"]
    if not node:
        raise SystemExit(f"page_check: no file input in #{zone}")
    tools.call("DOM.setFileInputFiles", nodeId=node, files=[os.path.abspath(path)])


def wait_for(tools, expression, done, seconds=60):
    value = ""
    deadline = time.time() + seconds
    while time.time() < deadline:
        value = tools.evaluate(expression) or ""
        if done(value):
            break
        time.sleep(0.2)
    return value


def screenshot(tools, out):
    shot = tools.call("Page.captureScreenshot", format="png")["data"]
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    with open(out, "wb") as f:
        f.write(base64.b64decode(shot))


def verify(port, url, img1, img2, expected, out):
    tools = open_page(port, url)
    drop(tools, "drop1", img1)
    drop(tools, "drop2", img2)
    decision = wait_for(tools, "document.getElementById('decision').textContent",
                        lambda d: d in ("Same person", "Different people") or d.startswith("Error"))
    details = tools.evaluate("document.getElementById('details').innerText") or ""
    screenshot(tools, out)
    print(f"page_check: {decision}; {' | '.join(details.splitlines())}; screenshot {out}")
    if decision != expected:
        raise SystemExit(f"page_check: FAIL: expected '{expected}', the page shows '{decision}'")
    if "distance" not in details or "threshold" not in details:
        raise SystemExit("page_check: FAIL: the result lacks the distance or the threshold")


def single(port, url, img, expected, out):
    """Drops one photo into the single-photo zone: the page must show its
    analysis (one face, with an age) and recognise EXPECTED in the store."""
    tools = open_page(port, url)
    drop(tools, "drop3", img)
    analysis = wait_for(tools, "document.getElementById('analysis-status').textContent",
                        lambda s: s.startswith("Analysis:") or "rror" in s)
    status = wait_for(tools, "document.getElementById('search-status').textContent",
                      lambda s: "recognised" in s or "no registered" in s or "rror" in s)
    table = tools.evaluate("document.getElementById('analysis').innerText") or ""
    rows = tools.evaluate("document.getElementById('matches').innerText") or ""
    screenshot(tools, out)
    print(f"page_check: {analysis}; {' | '.join(table.splitlines())}; {status}; {' | '.join(rows.splitlines())}; screenshot {out}")
    if analysis != "Analysis: 1 face":
        raise SystemExit(f"page_check: FAIL: expected the analysis of one face, the page shows '{analysis}'")
    age = tools.evaluate("document.querySelector('#analysis tbody tr').cells[1].textContent") or ""
    if not age.isdigit():
        raise SystemExit(f"page_check: FAIL: the analysis shows no age ('{age}')")
    if f"recognised: {expected}" not in status:
        raise SystemExit(f"page_check: FAIL: expected the page to recognise '{expected}', it shows '{status}'")


def main():
    mode = sys.argv[1]
    if mode == "verify":
        verify(*sys.argv[2:8])
    elif mode == "single":
        single(*sys.argv[2:7])
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main()
