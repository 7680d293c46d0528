"""What the browser tests share: stopping a child by its PID, and the command line that runs a
file's tests, each with fresh fixtures that are closed whatever happens."""

import argparse
import os
import subprocess
import traceback


def stop(proc, timeout=10):
    """SIGTERM to a child started with Popen, SIGKILL after `timeout` seconds; None is fine."""
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def main(tests, open_fixtures):
    """Parses --bridge, --agent, --source and --artifacts, then runs each test as
    test(*fixtures, artifacts). open_fixtures(args, fixtures) appends each fixture as it opens it,
    so that a failure half-way still closes those that opened. A failed test prints the
    traceback and every fixture's logs() (those that have one). Returns the exit code."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--bridge", required=True)
    ap.add_argument("--agent", help="scanner-agent, for the tests that run one")
    ap.add_argument("--source", required=True)
    ap.add_argument("--artifacts", required=True)
    args = ap.parse_args()
    os.makedirs(args.artifacts, exist_ok=True)
    passed = failed = 0
    for test in tests:
        fixtures = []
        try:
            open_fixtures(args, fixtures)
            test(*fixtures, args.artifacts)
            print(f"[ OK ] {test.__name__}")
            passed += 1
        except Exception:
            print(f"[FAIL] {test.__name__}")
            traceback.print_exc()
            for f in fixtures:
                if hasattr(f, "logs"):
                    print(f.logs())
            failed += 1
        finally:
            for f in reversed(fixtures):
                f.close()
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0
