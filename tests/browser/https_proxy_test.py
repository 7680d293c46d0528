"""The shipped nginx site (packaging/nginx/ticket-bridge.conf) in front of a real bridge, with a
self-signed certificate: the ticket page over https in headless Chromium goes from showing to
admitted through wss; /metrics and the health checks are not reachable through it; and the
bridge believes nginx's X-Forwarded-For (--trusted-proxy) for its per-address cap and its log,
never what a client wrote into it.

The site file is used as shipped, with only its names, ports and paths replaced (each replacement
must match, so that a reshaped file fails here instead of going untested), and the WebSocket read
timeout scaled down with the ping interval to keep the test short.

Usage: https_proxy_test.py --bridge BIN --source DIR --artifacts DIR"""

import asyncio
import base64
import hashlib
import json
import os
import re
import shutil
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

import websockets

import harness
from cdp import Browser
from ticket_page_test import QR_VISIBLE, STATE, System, free_ports, wait_port

PING_MS = 1000       # the bridge's ping interval in this test
READ_TIMEOUT_S = 3   # nginx's WebSocket read timeout in this test: three pings
PER_SOURCE = 2       # --max-connections-per-source
# nginx reaches the bridge from this address, the only one trusted: clients (Chromium on
# 127.0.0.1, the WebSocket clients on 127.0.0.3 and .4) are then never trusted themselves.
PROXY_ADDRESS = "127.0.0.2"


class Nginx:
    """Debian's nginx with the shipped site, on free loopback ports, in a temp dir."""

    def __init__(self, source, upstream_port):
        self.dir = tempfile.mkdtemp(prefix="tb-nginx-")
        self.proc = None
        try:
            self._start(source, upstream_port)
        except BaseException:
            self.close()
            raise

    def _start(self, source, upstream_port):
        os.chmod(self.dir, 0o711)  # the workers (nobody, when started as root) reach the temp paths
        self.https_port, self.http_port = free_ports(2)
        self.cert = os.path.join(self.dir, "cert.pem")
        key = os.path.join(self.dir, "key.pem")
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
             "-nodes", "-days", "2", "-subj", "/CN=localhost",
             "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
             "-keyout", key, "-out", self.cert],
            check=True, capture_output=True, timeout=30)
        site = open(os.path.join(source, "packaging", "nginx", "ticket-bridge.conf")).read()
        self.shipped = site
        webroot = os.path.join(self.dir, "www")
        os.mkdir(webroot)
        for old, new in [
            ("server_name tickets.example.org;", "server_name localhost;"),
            ("/etc/letsencrypt/live/tickets.example.org/fullchain.pem", self.cert),
            ("/etc/letsencrypt/live/tickets.example.org/privkey.pem", key),
            ("listen 443 ssl http2;", f"listen 127.0.0.1:{self.https_port} ssl http2;"),
            ("listen [::]:443 ssl http2;", ""),
            ("listen 80;", f"listen 127.0.0.1:{self.http_port};"),
            ("listen [::]:80;", ""),
            ("server 127.0.0.1:8080;", f"server 127.0.0.1:{upstream_port};"),
            ("root /var/www/html;", f"root {webroot};"),
            ("proxy_read_timeout 75s;", f"proxy_read_timeout {READ_TIMEOUT_S}s;"),
            ("proxy_send_timeout 75s;", f"proxy_send_timeout {READ_TIMEOUT_S}s;"),
        ]:
            assert old in site, f"the shipped site no longer has {old!r}"
            site = site.replace(old, new)
        open(os.path.join(self.dir, "site.conf"), "w").write(site)
        d = self.dir
        user = "user nobody nogroup;" if os.geteuid() == 0 else ""
        open(os.path.join(d, "nginx.conf"), "w").write(f"""
{user}
daemon off;
worker_processes 1;
pid {d}/nginx.pid;
error_log {d}/error.log info;
events {{ worker_connections 256; }}
http {{
    access_log {d}/access.log;
    client_body_temp_path {d}/body;
    proxy_temp_path {d}/proxy;
    fastcgi_temp_path {d}/fastcgi;
    uwsgi_temp_path {d}/uwsgi;
    scgi_temp_path {d}/scgi;
    proxy_bind {PROXY_ADDRESS};
    include {d}/site.conf;
}}
""")
        check = subprocess.run(["nginx", "-t", "-p", d, "-e", f"{d}/error.log",
                                "-c", f"{d}/nginx.conf"], capture_output=True, text=True, timeout=30)
        assert check.returncode == 0, "nginx -t: " + check.stderr
        self.proc = subprocess.Popen(["nginx", "-p", d, "-e", f"{d}/error.log", "-c", f"{d}/nginx.conf"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        assert wait_port(self.https_port) and wait_port(self.http_port), \
            "nginx did not start:\n" + self.error_log()

    def spki_hash(self):
        """What Chromium's --ignore-certificate-errors-spki-list takes: this certificate only."""
        der = subprocess.run(["openssl", "x509", "-in", self.cert, "-pubkey", "-noout"],
                             check=True, capture_output=True, timeout=10).stdout
        spki = subprocess.run(["openssl", "pkey", "-pubin", "-outform", "der"], input=der,
                              check=True, capture_output=True, timeout=10).stdout
        return base64.b64encode(hashlib.sha256(spki).digest()).decode()

    def tls(self):
        ctx = ssl.create_default_context(cafile=self.cert)
        return ctx

    def get(self, path, https=True):
        """(status, headers, body) of a GET through nginx, following no redirect."""
        port = self.https_port if https else self.http_port
        url = f"{'https' if https else 'http'}://localhost:{port}{path}"

        class NoRedirect(urllib.request.HTTPRedirectHandler):
            def redirect_request(self, *args, **kwargs):
                return None

        opener = urllib.request.build_opener(NoRedirect, urllib.request.HTTPSHandler(context=self.tls()))
        try:
            r = opener.open(url, timeout=10)
            return r.status, r.headers, r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.headers, e.read().decode()

    def access_log(self):
        return open(os.path.join(self.dir, "access.log")).read()

    def error_log(self):
        try:
            return open(os.path.join(self.dir, "error.log")).read()
        except OSError:
            return ""

    def logs(self):
        return "----- nginx error log -----\n" + self.error_log()

    def close(self):
        harness.stop(self.proc)
        shutil.rmtree(self.dir, ignore_errors=True)


def test_the_ticket_page_over_https_is_admitted_through_wss(system, nginx, artifacts):
    code = json.loads(system.cli("tickets", "add", "--uid", "42", "--holder", "A. Example"))["code"]
    token = system.cli("token", "--uid", "42")
    browser = Browser(extra_args=["--ignore-certificate-errors-spki-list=" + nginx.spki_hash()])
    try:
        browser.goto(f"https://localhost:{nginx.https_port}/ticket#code={code}&token={token}")
        browser.wait_for(f"{STATE} === 'showing'")
        browser.wait_for(QR_VISIBLE)
        browser.wait_for("document.getElementById('status').dataset.status === 'online'")
        assert browser.eval("location.protocol") == "https:"
        assert browser.eval("window.isSecureContext") is True
        # Quiet for longer than nginx's read timeout: the bridge's pings keep it open.
        time.sleep(READ_TIMEOUT_S + 1.5)
        assert browser.eval("document.getElementById('status').dataset.status") == "online"
        system.scan("https:1", code)
        browser.wait_for(f"{STATE} === 'admitted'", timeout=5)
        assert not browser.eval(QR_VISIBLE), "the QR code is still shown after admission"
        browser.screenshot(os.path.join(artifacts, "ticket-https-admitted.png"))
    finally:
        browser.close()
    # One WebSocket, through nginx's TLS server, upgraded; never reconnected. nginx logs it when it
    # closes, which may be a moment after the browser has gone.
    def upgrades():
        return [l for l in nginx.access_log().splitlines() if '"GET /ws HTTP/1.1" 101' in l]
    deadline = time.time() + 10
    while not upgrades() and time.time() < deadline:
        time.sleep(0.1)
    assert len(upgrades()) == 1, nginx.access_log()
    # The bridge saw nginx's address, and names the browser's.
    log = system.log()
    assert re.search(r"path=/ws status=101 bytes=0 ms=\S+ client=127\.0\.0\.1\n", log), log
    assert f"client={PROXY_ADDRESS}\n" not in log, log


def test_only_the_public_paths_go_through(system, nginx, artifacts):
    for path in ("/metrics", "/healthz", "/livez", "/readyz", "/", "/ws/x", "/ticketx"):
        status, _, _ = nginx.get(path)
        assert status == 404, f"{path} answered {status} through nginx"
    direct = urllib.request.urlopen(f"http://127.0.0.1:{system.http_port}/metrics", timeout=10)
    assert direct.status == 200, "the bridge itself still serves /metrics to the host"
    status, headers, _ = nginx.get("/ticket-bridge.js")
    assert status == 200
    assert headers["Strict-Transport-Security"].startswith("max-age="), dict(headers)
    status, _, body = nginx.get("/api/v1/tickets/NOPE")
    assert status == 401, (status, body)  # reaches the bridge, which asks for the key
    status, headers, _ = nginx.get("/ticket?x=1", https=False)
    assert status == 301 and headers["Location"] == "https://localhost/ticket?x=1", \
        (status, dict(headers))
    status, _, _ = nginx.get("/.well-known/acme-challenge/absent", https=False)
    assert status == 404, "the HTTP challenge is served from the web root, not redirected"


async def open_ws(nginx, source, headers=None):
    """A WebSocket through nginx from `source` (a loopback address), with extra headers."""
    return await websockets.connect(
        f"wss://127.0.0.1:{nginx.https_port}/ws", ssl=nginx.tls(), server_hostname="localhost",
        local_addr=(source, 0), extra_headers=headers or {}, open_timeout=10, close_timeout=2)


async def still_open(ws, wait=1.0):
    try:
        await asyncio.wait_for(ws.recv(), wait)
    except asyncio.TimeoutError:
        return True
    except websockets.ConnectionClosed:
        return False
    return True


async def closed_with(ws, wait=5):
    try:
        await asyncio.wait_for(ws.recv(), wait)
    except websockets.ConnectionClosed as e:
        return e.rcvd.code if e.rcvd else None
    return None


async def spoofing(system, nginx):
    token = system.cli("token", "--uid", "7")
    held = []
    try:
        # Two from 127.0.0.3: its cap. Each claims another address; nginx appends the real one.
        for forged in ("203.0.113.1", "203.0.113.2"):
            ws = await open_ws(nginx, "127.0.0.3", {"X-Forwarded-For": forged})
            held.append(ws)
            assert await still_open(ws), "refused under the cap"
        third = await open_ws(nginx, "127.0.0.3", {"X-Forwarded-For": "203.0.113.3"})
        held.append(third)
        assert await closed_with(third) == 1013, "a forged X-Forwarded-For escaped the cap"
        # Another client behind the same proxy has a cap of its own.
        other = await open_ws(nginx, "127.0.0.4")
        held.append(other)
        await other.send(json.dumps({"type": "hello", "token": token}))
        welcome = json.loads(await asyncio.wait_for(other.recv(), 5))
        assert welcome["type"] == "welcome", welcome
        # Quiet for longer than nginx's read timeout: still there, and events arrive.
        await asyncio.sleep(READ_TIMEOUT_S + 1.5)
        reply = system.push("7", {"msg": "still here"})
        event = json.loads(await asyncio.wait_for(other.recv(), 5))
        assert event["seq"] == reply["seq"] and event["data"] == {"msg": "still here"}, event
    finally:
        for ws in held:
            await ws.close()


def test_the_bridge_believes_nginx_and_not_the_client(system, nginx, artifacts):
    loop = asyncio.new_event_loop()
    try:
        loop.run_until_complete(spoofing(system, nginx))
    finally:
        loop.close()
    log = system.log()
    assert "client=127.0.0.3\n" in log and "client=127.0.0.4\n" in log, log
    assert "203.0.113." not in log, "an address the client wrote reached the log"
    assert f"client={PROXY_ADDRESS}\n" not in log, log


def test_the_shipped_timeouts_outlast_the_default_pings(system, nginx, artifacts):
    """The scaled copy above shows pings keep a WebSocket open through nginx; this pins the shipped
    numbers. nginx needs data from the bridge within its read timeout, and the bridge sends a ping
    every interval; the margin asked for is a whole pong timeout more."""
    config = system.cli("init", "--print-config")
    ping = int(re.search(r"^#? ?ws_ping_interval_ms = (\d+)", config, re.M).group(1))
    pong = int(re.search(r"^#? ?ws_pong_timeout_ms = (\d+)", config, re.M).group(1))
    read = int(re.search(r"proxy_read_timeout (\d+)s;", nginx.shipped).group(1))
    assert read * 1000 > ping + pong, (read, ping, pong)


def open_fixtures(args, fixtures):
    system = System(args.bridge, args.source,
                    ["--trusted-proxy", PROXY_ADDRESS, "--access-log", "true",
                     "--ws-ping-interval-ms", str(PING_MS),
                     "--max-connections-per-source", str(PER_SOURCE)])
    fixtures.append(system)
    fixtures.append(Nginx(args.source, system.http_port))


TESTS = [test_the_ticket_page_over_https_is_admitted_through_wss,
         test_only_the_public_paths_go_through,
         test_the_bridge_believes_nginx_and_not_the_client,
         test_the_shipped_timeouts_outlast_the_default_pings]

if __name__ == "__main__":
    sys.exit(harness.main(TESTS, open_fixtures))
