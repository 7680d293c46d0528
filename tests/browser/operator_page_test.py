"""The operator page (/operator) in a real headless Chromium, against a real bridge and broker and
two real scanner agents: both scanners show online, then one offline within seconds after it is
killed (its Last Will); the figures in the page's data-* attributes equal what was scanned; the
rejections are listed, already_used highlighted, each opening the ticket's history; a wrong key or
token is told "not authorised" and gets no figures. Screenshots go to the artifacts directory
(docs/images/operator.png and operator-offline.png are copies of two of them).

Usage: operator_page_test.py --bridge BIN --agent BIN --source DIR --artifacts DIR"""

import json
import os
import signal
import subprocess
import sys
import time

import harness
from cdp import Browser
from ticket_page_test import System

VENUE = "document.getElementById('venue').dataset"


class Agents:
    """Real scanner agents reading codes on stdin, as a keyboard-wedge scanner types them."""

    def __init__(self, agent_bin, system):
        self.bin = agent_bin
        self.system = system
        self.procs = {}

    def start(self, scanner, gate):
        self.procs[scanner] = subprocess.Popen(
            [self.bin, "--broker", f"mqtt://127.0.0.1:{self.system.mqtt_port}", "--id", scanner,
             "--gate", gate, "--json", "--journal",
             os.path.join(self.system.dir, f"{scanner}.journal")],
            cwd=self.system.dir, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
            stderr=open(os.path.join(self.system.dir, f"{scanner}.log"), "w"), text=True)

    def scan(self, scanner, *codes):
        for code in codes:
            self.procs[scanner].stdin.write(code + "\n")
            self.procs[scanner].stdin.flush()

    def kill(self, scanner):
        self.procs[scanner].send_signal(signal.SIGKILL)
        self.procs[scanner].wait(10)

    def logs(self):
        out = []
        for scanner in self.procs:
            path = os.path.join(self.system.dir, f"{scanner}.log")
            if os.path.exists(path):
                out.append(f"----- {scanner} -----\n" + open(path).read())
        return "\n".join(out)

    def close(self):
        for p in self.procs.values():
            if p.stdin:
                try:
                    p.stdin.close()
                except OSError:
                    pass
            harness.stop(p)


def log_in(browser, system, credential):
    browser.goto(f"http://127.0.0.1:{system.http_port}/operator")
    browser.wait_for("document.readyState === 'complete' && !!document.getElementById('login')")
    browser.eval(f"document.getElementById('credential').value = {json.dumps(credential)};"
                 "document.getElementById('login').requestSubmit(); true")


def row(scanner):
    return f"document.querySelector('#scanners tr[data-scanner=\"{scanner}\"]')"


def test_scanners_figures_and_rejections(system, browser, agents, artifacts):
    for i in range(12):
        system.cli("tickets", "add", "--uid", f"u{i}", "--code", f"T{i}", "--holder",
                   f"Holder {i}")
    system.stop_bridge()
    system.start_bridge()  # the ticket counts are read at the start
    agents.start("gate-n-1", "north")
    agents.start("gate-s-1", "south")
    token = system.cli("token", "--operator")
    browser.call("Emulation.setDeviceMetricsOverride",
                 {"width": 1280, "height": 900, "deviceScaleFactor": 1, "mobile": False})
    log_in(browser, system, token)
    browser.wait_for("document.body.dataset.auth === 'ok'")
    # The credential went in the WebSocket's first message, never into the URL.
    assert token not in browser.eval("location.href")
    for scanner in ("gate-n-1", "gate-s-1"):
        browser.wait_for(f"{row(scanner)} && {row(scanner)}.dataset.status === 'online'")
        assert browser.eval(f"{row(scanner)}.querySelector('.state').textContent") == "online"
    browser.wait_for(f"{VENUE}.ticketsSold === '12'")

    agents.scan("gate-n-1", *[f"T{i}" for i in range(6)], "NOPE1")
    agents.scan("gate-s-1", *[f"T{i}" for i in range(6, 12)])
    browser.wait_for(f"{VENUE}.scansAdmitted === '12'", timeout=20)
    agents.scan("gate-s-1", "T0")  # used at north already
    browser.wait_for(f"{VENUE}.scansRejected === '2'", timeout=20)
    assert browser.eval(f"{VENUE}.admitted") == "12"
    assert browser.eval(f"{VENUE}.inside") == "12"
    gate = "document.querySelector('#gates [data-gate=\"{}\"]').dataset"
    for name, admitted, rejected in (("north", "6", "1"), ("south", "6", "1")):
        assert browser.eval(gate.format(name) + ".admitted") == admitted, name
        assert browser.eval(gate.format(name) + ".rejected") == rejected, name
        assert browser.eval(gate.format(name) + ".admittedThisMinute") in ("6", "0"), name
        assert float(browser.eval(gate.format(name) + ".p99Ms")) > 0, name
    assert browser.eval(f"{row('gate-s-1')}.dataset.gate") == "south"
    assert browser.eval(f"{row('gate-s-1')}.dataset.lastScanStatus") == "rejected"

    rejections = browser.eval(
        "[...document.querySelectorAll('#rejections tr[data-reason]')].map(r => "
        "({...r.dataset, hot: r.classList.contains('highlight'), text: r.textContent}))")
    assert len(rejections) == 2, rejections
    used, unknown = rejections
    assert used["reason"] == "already_used" and used["code"] == "T0", used
    assert used["gate"] == "south" and used["scanner"] == "gate-s-1", used
    assert used["holder"] == "Holder 0" and used["hot"], used
    assert unknown["reason"] == "unknown" and unknown["code"] == "NOPE1", unknown
    assert not unknown["hot"], unknown
    assert "already_used" in used["text"]  # said in text, not only by colour
    browser.screenshot(os.path.join(artifacts, "operator.png"))

    # The code opens the ticket's history, read with the operator's token.
    browser.eval("document.querySelector('#rejections a[data-history=\"T0\"]').click(); true")
    browser.wait_for("document.getElementById('history').dataset.status === '200'")
    history = json.loads(browser.eval("document.getElementById('history-body').textContent"))
    assert history["code"] == "T0", history

    # A scanner that dies: its Last Will says offline, within seconds.
    killed_at = time.time()
    agents.kill("gate-s-1")
    browser.wait_for(f"{row('gate-s-1')}.dataset.status === 'offline'", timeout=15)
    print(f"gate-s-1 shown offline {time.time() - killed_at:.1f} s after SIGKILL")
    assert browser.eval(f"{row('gate-s-1')}.querySelector('.state').textContent") == "offline"
    assert browser.eval(f"{row('gate-n-1')}.dataset.status") == "online"
    browser.screenshot(os.path.join(artifacts, "operator-offline.png"))

    # A tablet held upright: nothing wider than the screen.
    browser.call("Emulation.setDeviceMetricsOverride",
                 {"width": 800, "height": 1280, "deviceScaleFactor": 1, "mobile": True})
    time.sleep(0.5)
    assert browser.eval("document.documentElement.scrollWidth <= window.innerWidth + 1")
    browser.screenshot(os.path.join(artifacts, "operator-tablet.png"))


def test_a_wrong_key_or_token_is_not_authorised(system, browser, agents, artifacts):
    system.cli("tickets", "add", "--uid", "77", "--code", "OWN1")
    owner = system.cli("token", "--uid", "77")
    for credential in ("not-the-key", owner):
        log_in(browser, system, credential)
        browser.wait_for("document.body.dataset.auth === 'refused'")
        assert "Not authorised" in browser.eval("document.getElementById('refused').innerText")
        assert browser.eval(f"{VENUE}.ticketsSold") is None, "figures reached a refused page"
        assert browser.eval("document.getElementById('scanners').children.length") == 0
    browser.screenshot(os.path.join(artifacts, "operator-refused.png"))


def open_fixtures(args, fixtures):
    system = System(args.bridge, args.source)
    fixtures.append(system)
    fixtures.append(Browser(width=1280, height=900))
    fixtures.append(Agents(args.agent, system))


TESTS = [test_scanners_figures_and_rejections, test_a_wrong_key_or_token_is_not_authorised]

if __name__ == "__main__":
    sys.exit(harness.main(TESTS, open_fixtures))
