"""The customer's ticket page in a real headless Chromium, against a real bridge and broker:
the QR code shows, closes on admission, warns on a second scan, recovers after a bridge restart,
and shows nothing without a valid token. Screenshots go to the artifacts directory.

Usage: ticket_page_test.py --bridge BIN --source DIR --artifacts DIR"""

import hashlib
import hmac
import json
import os
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import time
import urllib.request

import harness
from cdp import Browser


def free_port():
    return free_ports(1)[0]


def free_ports(count):
    """`count` distinct free ports: each socket is held until all are picked (ports picked one by
    one can be the same one)."""
    socks = []
    try:
        for _ in range(count):
            s = socket.socket()
            socks.append(s)
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def wait_port(port, timeout=10):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return True
        except OSError:
            time.sleep(0.05)
    return False


class System:
    """mosquitto with the project's dev config, and ticket-bridge serve, in a temp dir."""

    def __init__(self, bridge_bin, source, extra_args=()):
        self.dir = tempfile.mkdtemp(prefix="tb-browser-")
        self.bin = bridge_bin
        self.extra_args = list(extra_args)
        self.mqtt_port, self.http_port = free_ports(2)
        conf = open(os.path.join(source, "broker-conf", "dev.conf")).read()
        conf = conf.replace("listener 1883 127.0.0.1", f"listener {self.mqtt_port} 127.0.0.1")
        open(os.path.join(self.dir, "mosquitto.conf"), "w").write(conf)
        self.bridge = None
        self.mosquitto = subprocess.Popen(
            ["mosquitto", "-c", os.path.join(self.dir, "mosquitto.conf")],
            stdout=subprocess.DEVNULL, stderr=open(os.path.join(self.dir, "mosquitto.log"), "w"))
        try:
            assert wait_port(self.mqtt_port), "mosquitto did not start"
            self.start_bridge()
        except BaseException:
            self.close()  # a half-made system leaves no process behind
            raise

    def cli(self, *args):
        out = subprocess.run([self.bin, *args], cwd=self.dir, capture_output=True, text=True,
                             timeout=30)
        assert out.returncode == 0, out.stderr
        return out.stdout.strip()

    def start_bridge(self):
        self.bridge = subprocess.Popen(
            [self.bin, "serve", "--mqtt", f"mqtt://127.0.0.1:{self.mqtt_port}",
             "--listen", f"127.0.0.1:{self.http_port}", *self.extra_args],
            cwd=self.dir, stdout=subprocess.DEVNULL,
            stderr=open(os.path.join(self.dir, "bridge.log"), "a"))
        deadline = time.time() + 15
        while time.time() < deadline:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{self.http_port}/healthz", timeout=1)
                return
            except OSError:
                time.sleep(0.05)
        raise AssertionError("the bridge did not become healthy:\n" + self.log())

    def stop_bridge(self):
        self.bridge.terminate()
        self.bridge.wait(15)

    def scan(self, scan_id, code, gate="north"):
        payload = json.dumps({"scan_id": scan_id, "code": code, "scanner": "gate-n-1", "gate": gate})
        subprocess.run(["mosquitto_pub", "-p", str(self.mqtt_port), "-q", "1", "-t", "tickets/scan",
                        "-m", payload], check=True, timeout=10)

    def push(self, uid, data):
        key = open(os.path.join(self.dir, "var", "api-key")).read().strip()
        req = urllib.request.Request(
            f"http://127.0.0.1:{self.http_port}/api/v1/push", method="POST",
            data=json.dumps({"uid": uid, "data": data}).encode(),
            headers={"Authorization": "Bearer " + key, "Content-Type": "application/json"})
        return json.load(urllib.request.urlopen(req, timeout=10))

    def log(self):
        return open(os.path.join(self.dir, "bridge.log")).read()

    def logs(self):
        return "----- bridge log -----\n" + self.log()

    def close(self):
        for p in (self.bridge, self.mosquitto):
            harness.stop(p)
        shutil.rmtree(self.dir, ignore_errors=True)


STATE = "document.body.dataset.ticketState"
QR_VISIBLE = ("(() => { const b = document.getElementById('qr-box'); const s = b && b.querySelector('svg');"
              " return !!s && b.offsetParent !== null && s.getBoundingClientRect().width > 100; })()")


def test_qr_closes_on_admission(system, browser, artifacts):
    code = json.loads(system.cli("tickets", "add", "--uid", "42", "--holder", "A. Example"))["code"]
    token = system.cli("token", "--uid", "42")
    browser.goto(f"http://127.0.0.1:{system.http_port}/ticket#code={code}&token={token}")
    browser.wait_for(f"{STATE} === 'showing'")
    browser.wait_for(QR_VISIBLE)
    browser.wait_for("document.getElementById('status').dataset.status === 'online'")
    assert browser.eval("document.getElementById('holder').textContent") == "A. Example"
    browser.screenshot(os.path.join(artifacts, "ticket-before.png"))

    system.scan("browser:1", code)
    browser.wait_for(f"{STATE} === 'admitted'", timeout=5)
    assert not browser.eval(QR_VISIBLE), "the QR code is still shown after admission"
    welcome = browser.eval("document.getElementById('welcome').textContent")
    assert welcome.startswith("Welcome - admitted at gate north"), welcome
    assert "Welcome" in browser.eval("document.getElementById('announce').textContent")
    browser.screenshot(os.path.join(artifacts, "ticket-after.png"))
    browser.call("Emulation.setDeviceMetricsOverride",
                 {"width": 1280, "height": 800, "deviceScaleFactor": 1, "mobile": False})
    browser.screenshot(os.path.join(artifacts, "ticket-after-laptop.png"))
    browser.call("Emulation.clearDeviceMetricsOverride")

    # A second scan of the same ticket, elsewhere: the owner is warned.
    system.scan("browser:2", code, gate="south")
    browser.wait_for(f"{STATE} === 'rejected'", timeout=5)
    warning = browser.eval("document.getElementById('warning').textContent")
    assert "already used at gate north" in warning, warning
    assert not browser.eval(QR_VISIBLE), "a used ticket shows its code again"
    assert browser.eval("document.getElementById('welcome').offsetParent !== null")
    browser.screenshot(os.path.join(artifacts, "ticket-used-elsewhere.png"))

    # A reload shows the admitted ticket, not the code.
    browser.goto("about:blank")
    browser.goto(f"http://127.0.0.1:{system.http_port}/ticket#code={code}&token={token}")
    browser.wait_for(f"{STATE} === 'admitted' || {STATE} === 'rejected'")
    assert not browser.eval(QR_VISIBLE)


def test_reconnects_after_a_bridge_restart(system, browser, artifacts):
    code = json.loads(system.cli("tickets", "add", "--uid", "77"))["code"]
    token = system.cli("token", "--uid", "77")
    browser.goto(f"http://127.0.0.1:{system.http_port}/ticket#code={code}&token={token}")
    browser.wait_for("document.getElementById('status').dataset.status === 'online'")
    system.stop_bridge()
    browser.wait_for("document.getElementById('status').dataset.status !== 'online'")
    # Pushed while the page is disconnected: the page catches up through `since` when it is back.
    system.start_bridge()
    reply = system.push("77", {"msg": "Doors open at 19:00"})
    assert reply["seq"] >= 1
    browser.wait_for("document.getElementById('messages').textContent.includes('Doors open at 19:00')",
                     timeout=45)
    assert browser.eval("document.getElementById('status').dataset.status") == "online"
    assert browser.eval(STATE) == "showing"
    browser.screenshot(os.path.join(artifacts, "ticket-push.png"))


STATUS = "document.getElementById('status').dataset.status"


def test_an_expired_link_keeps_the_code_and_says_updates_stopped(system, browser, artifacts):
    code = json.loads(system.cli("tickets", "add", "--uid", "88"))["code"]
    token = system.cli("token", "--uid", "88", "--code", code, "--ttl", "3s")
    browser.goto(f"http://127.0.0.1:{system.http_port}/ticket#code={code}&token={token}")
    browser.wait_for(f"{STATUS} === 'online'")
    browser.wait_for(f"{STATUS} === 'expired'", timeout=8)
    assert browser.eval(QR_VISIBLE), "the code is still good at the gate: it must stay"
    notice = browser.eval("document.getElementById('expired').textContent")
    assert "Live updates have stopped" in notice, notice
    assert browser.eval("document.getElementById('expired').offsetParent !== null")
    time.sleep(1.5)  # it does not keep knocking with the dead token
    assert browser.eval(STATUS) == "expired"
    browser.screenshot(os.path.join(artifacts, "ticket-expired.png"))


def test_get_token_renews_an_expired_token_and_misses_nothing(system, browser, artifacts):
    """The library's getToken hook: asked on token_expired, then a reconnect with `since`."""
    # The short token is made last and given time for the page to load and connect: on a slow
    # (sanitizer) build a 2-second token could expire before the first welcome.
    fresh = system.cli("token", "--uid", "99")
    short = system.cli("token", "--uid", "99", "--ttl", "5s")
    browser.goto(f"http://127.0.0.1:{system.http_port}/ticket-bridge.js")
    browser.eval("""(() => {
      window.seen = []; window.welcomes = []; window.asked = 0;
      const s = document.createElement('script'); s.src = '/ticket-bridge.js';
      s.onload = () => { window.client = TicketBridge.connect({
        token: %s, storageKey: 'renew-test',
        getToken: () => { window.asked += 1;
          return new Promise((resolve) => { window.release = () => resolve(%s); }); },
        onWelcome: (w) => window.welcomes.push(w),
        on: { push: (e) => window.seen.push(e.data) } }); };
      document.head.appendChild(s); return true; })()""" % (json.dumps(short), json.dumps(fresh)))
    browser.wait_for("window.welcomes.length === 1")
    system.push("99", "before")
    browser.wait_for("window.seen.includes('before')")
    browser.wait_for("window.asked === 1", timeout=12)  # the token expired: a new one, please
    system.push("99", "while away")  # the page is between two tokens
    browser.eval("window.release()")
    browser.wait_for("window.welcomes.length === 2", timeout=10)
    browser.wait_for("window.seen.includes('while away')")  # replayed through `since`
    system.push("99", "after")
    browser.wait_for("window.seen.includes('after')")
    assert browser.eval("JSON.stringify(window.seen)") == '["before","while away","after"]'
    assert browser.eval("window.welcomes[1].recovered") is True
    browser.eval("window.client.close()")


def test_no_valid_token_shows_no_code(system, browser, artifacts):
    code = json.loads(system.cli("tickets", "add", "--uid", "42"))["code"]
    other = system.cli("token", "--uid", "43")  # a valid token of someone else
    for fragment in (f"code={code}", f"code={code}&token=forged.token.here", f"code={code}&token={other}"):
        browser.goto("about:blank")
        browser.goto(f"http://127.0.0.1:{system.http_port}/ticket#{fragment}")
        browser.wait_for(f"{STATE} === 'unauthorized'")
        time.sleep(0.3)
        assert browser.eval(STATE) == "unauthorized"
        assert not browser.eval("!!document.querySelector('#qr svg')"), fragment
        assert code not in browser.eval("document.body.innerText"), fragment
    browser.screenshot(os.path.join(artifacts, "ticket-unauthorized.png"))


def read_qr(path):
    """The text of the QR code in a PNG, read by zbarimg (zbar-tools)."""
    out = subprocess.run(["zbarimg", "--raw", "-q", path], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, f"no QR code read from {path}: {out.stderr}"
    return out.stdout.strip()


def test_a_signed_ticket_shows_its_signed_code_and_hears_its_plain_one(system, browser, artifacts):
    # SPEC.md v1.1: with a signing key the page shows the signed code's QR code, wherever the link
    # names the ticket by, and the gate's scan of the signed code closes it.
    pub = system.cli("keys", "init")
    assert pub.endswith("signing-key.pub.pem") and os.path.exists(pub), pub
    system.stop_bridge()
    system.start_bridge()  # serve reads the key at start
    t = json.loads(system.cli("tickets", "add", "--uid", "44", "--gates", "north"))
    signed, plain = t["signed_code"], t["code"]
    assert signed.startswith("TB1."), t
    token = system.cli("token", "--uid", "44", "--code", plain)
    browser.goto(f"http://127.0.0.1:{system.http_port}/ticket#code={signed}&token={token}")
    browser.wait_for(f"{STATE} === 'showing'")
    browser.wait_for(QR_VISIBLE)
    browser.wait_for("document.getElementById('status').dataset.status === 'online'")
    assert browser.eval("document.getElementById('code').textContent") == plain
    shot = os.path.join(artifacts, "ticket-signed.png")
    browser.screenshot(shot)
    assert read_qr(shot) == signed

    system.scan("browser:signed:1", signed)
    browser.wait_for(f"{STATE} === 'admitted'", timeout=5)
    assert not browser.eval(QR_VISIBLE), "the QR code is still shown after admission"


CLOCK = """(() => { const real = Date.now.bind(Date); window.tbClockOffset = 0;
  Date.now = () => real() + window.tbClockOffset; })();"""


def expected_value(key_hex, code, step):
    """The rotating value of `step`, computed here from the venue's key (RFC 6238 with SHA-256,
    8 digits): a second implementation, against the page's."""
    secret = hmac.new(bytes.fromhex(key_hex), b"tb-rotating-v1\0" + code.encode(), hashlib.sha256)
    mac = hmac.new(secret.digest(), struct.pack(">Q", step), hashlib.sha256).digest()
    o = mac[-1] & 0x0F
    return "%08d" % ((struct.unpack(">I", mac[o:o + 4])[0] & 0x7FFFFFFF) % 100000000)


def test_a_rotating_ticket_rotates_offline_and_its_screenshot_is_stale(system, browser, artifacts):
    # Issue #17: the page draws the signed code and the value of the moment; a copy read 40 s
    # earlier is refused as stale_code; with the bridge gone the page keeps rotating.
    pub = system.cli("keys", "init")
    key_hex = open(os.path.join(os.path.dirname(pub), "rotating-key")).read().strip()
    system.stop_bridge()
    system.start_bridge()
    t = json.loads(system.cli("tickets", "add", "--uid", "45", "--rotating"))
    signed, plain = t["signed_code"], t["code"]
    assert t["rotating"] is True, t
    token = system.cli("token", "--uid", "45", "--code", plain)
    browser.call("Page.addScriptToEvaluateOnNewDocument", {"source": CLOCK})
    browser.goto(f"http://127.0.0.1:{system.http_port}/ticket#code={plain}&token={token}")
    browser.wait_for("document.body.dataset.rotating === 'live'")
    browser.wait_for(QR_VISIBLE)

    def shown(name):
        """The code the page shows now, read from a screenshot, checked against the step the page
        says it drew."""
        step = int(browser.eval("document.getElementById('qr').dataset.step"))
        shot = os.path.join(artifacts, name)
        browser.screenshot(shot)
        text = read_qr(shot)
        assert text == signed + "." + expected_value(key_hex, plain, step), (text, step)
        return text, step

    def move_clock(offset_ms, after_step):
        browser.eval(f"window.tbClockOffset = {offset_ms}")
        browser.wait_for(f"Number(document.getElementById('qr').dataset.step) !== {after_step}",
                         timeout=5)

    live, step = shown("ticket-rotating.png")
    move_clock(-40_000, step)  # what a screenshot taken 40 s ago shows
    copy, copy_step = shown("ticket-rotating-40s-ago.png")
    assert copy != live and copy_step < step - 1
    move_clock(0, copy_step)
    system.scan("browser:rot:1", copy)
    browser.wait_for(f"{STATE} === 'rejected'", timeout=5)
    warning = browser.eval("document.getElementById('warning').textContent")
    assert "copy of your ticket" in warning, warning
    assert browser.eval(QR_VISIBLE), "the live code must stay after a copy was refused"

    # The network goes: the page keeps drawing the next step's code from the secret it holds.
    system.stop_bridge()
    browser.wait_for(f"{STATUS} !== 'online'")
    _, now_step = shown("ticket-rotating-now.png")
    move_clock(15_000, now_step)
    ahead, ahead_step = shown("ticket-rotating-offline.png")
    assert ahead_step > now_step
    # Back online, the code drawn offline (one step ahead of the bridge's clock) gets in.
    system.start_bridge()
    system.scan("browser:rot:2", ahead)
    browser.wait_for(f"{STATE} === 'admitted'", timeout=45)


def open_fixtures(args, fixtures):
    fixtures.append(System(args.bridge, args.source))
    fixtures.append(Browser())


TESTS = [test_qr_closes_on_admission, test_reconnects_after_a_bridge_restart,
         test_an_expired_link_keeps_the_code_and_says_updates_stopped,
         test_get_token_renews_an_expired_token_and_misses_nothing,
         test_no_valid_token_shows_no_code,
         # last: it gives the system a signing key
         test_a_signed_ticket_shows_its_signed_code_and_hears_its_plain_one,
         test_a_rotating_ticket_rotates_offline_and_its_screenshot_is_stale]

if __name__ == "__main__":
    sys.exit(harness.main(TESTS, open_fixtures))
