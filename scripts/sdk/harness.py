"""Shared pieces of the SDK tests: start `telephony serve --sandbox` on ephemeral loopback
ports with a data directory of its own, read its runtime file, run checks, report.

Each check is a function named after the SDK method it exercises; a failed assert fails
that check only, and the run ends with one line `sdk-<provider>: N passed, M failed`.
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback


class Sandbox:
    """`telephony serve --sandbox [--provider P]`, stopped on exit."""

    def __init__(self, binary, provider):
        self.binary = binary
        self.provider = provider
        self.dir = tempfile.mkdtemp(prefix=f"sdk-{provider}-")
        self.proc = None
        self.runtime = None

    def __enter__(self):
        data = os.path.join(self.dir, "data")
        # No configuration from the caller's environment (every TELEPHONY_* variable is a
        # config key, TELEPHONY_LOG aside) nor from a file in its directory: the sandbox alone.
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith("TELEPHONY_") or k == "TELEPHONY_LOG"
        }
        env.update(
            {
                "TELEPHONY_SERVE__PORT": "0",
                "TELEPHONY_ADMIN__PORT": "0",
                "TELEPHONY_DATA_DIR": data,
                "TELEPHONY_LOG": env.get("TELEPHONY_LOG", "warn"),
            }
        )
        self.log = open(os.path.join(self.dir, "serve.log"), "w")
        self.proc = subprocess.Popen(
            [self.binary, "serve", "--sandbox", "--provider", self.provider],
            cwd=self.dir,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        runtime_file = os.path.join(data, "gateway.json")
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"telephony serve --sandbox exited with {self.proc.returncode}:\n{self.output()}"
                )
            try:
                with open(runtime_file) as f:
                    rt = json.load(f)
                if rt.get("pid") == self.proc.pid and rt.get("simulatorUrl"):
                    self.runtime = rt
                    return self
            except (OSError, ValueError):
                pass
            time.sleep(0.1)
        raise RuntimeError(f"no runtime file after 60 s:\n{self.output()}")

    def output(self):
        self.log.flush()
        with open(os.path.join(self.dir, "serve.log")) as f:
            return f.read()

    def __exit__(self, *exc):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        if exc[0] is None and os.environ.get("SDK_KEEP") is None:
            shutil.rmtree(self.dir, ignore_errors=True)
        else:
            print(f"sandbox files kept in {self.dir}")
        return False


def wait_for(what, fetch, done, timeout=30.0):
    """Calls `fetch()` until `done(value)`, at most `timeout` seconds; returns the value."""
    deadline = time.monotonic() + timeout
    while True:
        value = fetch()
        if done(value):
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: still {value!r} after {timeout} s")
        time.sleep(0.1)


def eq(actual, expected, what=""):
    if actual != expected:
        raise AssertionError(f"{what}: expected {expected!r}, got {actual!r}")


def run(provider, checks, context):
    """Runs each `(name, fn)` in order with `context`; prints one line per check and the
    totals; returns the process exit code."""
    passed, failed = 0, []
    for name, fn in checks:
        try:
            fn(context)
        except Exception:  # noqa: BLE001 - a failed check is reported, the run goes on
            failed.append(name)
            print(f"FAIL {name}\n{traceback.format_exc()}", flush=True)
        else:
            passed += 1
            print(f"ok   {name}", flush=True)
    print(f"sdk-{provider}: {passed} passed, {len(failed)} failed", flush=True)
    return 1 if failed else 0


def binary():
    path = os.environ.get("SDK_TEST_BINARY")
    if not path or not os.access(path, os.X_OK):
        sys.exit(f"set SDK_TEST_BINARY to the built `telephony` binary (got {path!r})")
    return path
