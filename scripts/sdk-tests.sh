#!/usr/bin/env bash
# Runs the official Twilio and Telnyx SDKs, Python and Node, unchanged, against `telephony
# serve --sandbox` (Twilio, then `--provider telnyx`) on loopback: each SDK call's parsed
# fields are asserted (scripts/sdk/*_sdk.py, scripts/sdk/node/*.mjs). The SDKs are
# installed from PyPI and npm into a throwaway directory (versions pinned in
# scripts/sdk/requirements.txt and scripts/sdk/node/package.json).
#
# Without the registries nothing can be tested: with CI set that fails the run; elsewhere
# the script says why and exits 2. Without `node` the Node SDKs are skipped (said so). SDK_TEST_BINARY names a built `telephony` to test (default: cargo
# builds telephony-cli's). SDK_KEEP=1 keeps the sandboxes' data directories and logs.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ -z "${SDK_TEST_BINARY:-}" ]; then
    # The executable cargo reports, wherever CARGO_TARGET_DIR puts it.
    SDK_TEST_BINARY="$(cargo build -p telephony-cli --bin telephony --message-format=json-render-diagnostics |
        python3 -c 'import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m.get("executable") and m["target"]["name"] == "telephony":
        print(m["executable"])')"
fi
export SDK_TEST_BINARY
# No __pycache__ left in the checkout.
export PYTHONDONTWRITEBYTECODE=1

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
python3 -m venv "$work/venv"
if ! "$work/venv/bin/pip" install --quiet --disable-pip-version-check \
    -r scripts/sdk/requirements.txt >"$work/pip.log" 2>&1; then
    cat "$work/pip.log" >&2
    if [ -n "${CI:-}" ]; then
        echo "sdk-tests: FAILED: the official SDKs (scripts/sdk/requirements.txt) could not be installed from PyPI; CI must reach it" >&2
        exit 1
    fi
    echo "sdk-tests: NOT RUN: the official SDKs (scripts/sdk/requirements.txt) could not be installed (is PyPI reachable from here? see pip's output above)" >&2
    exit 2
fi

node_ready=""
if command -v node >/dev/null && command -v npm >/dev/null; then
    # ES modules find their packages next to the script: the checks run from the copy
    # the SDKs are installed beside.
    mkdir -p "$work/node"
    cp scripts/sdk/node/*.mjs scripts/sdk/node/package.json "$work/node/"
    if (cd "$work/node" && npm install --no-audit --no-fund --loglevel=error) >"$work/npm.log" 2>&1; then
        node_ready=1
    else
        cat "$work/npm.log" >&2
        if [ -n "${CI:-}" ]; then
            echo "sdk-tests: FAILED: the official Node SDKs (scripts/sdk/node/package.json) could not be installed from npm; CI must reach it" >&2
            exit 1
        fi
        echo "sdk-tests: NOT RUN: the official Node SDKs could not be installed (is the npm registry reachable from here? see npm's output above)" >&2
        exit 2
    fi
else
    echo "sdk-tests: node/npm not found: the Node SDK checks are skipped (the Python ones run)"
fi

status=0
for provider in twilio telnyx; do
    echo "--- official $provider Python SDK against serve --sandbox --provider $provider"
    "$work/venv/bin/python" "scripts/sdk/${provider}_sdk.py" || status=1
done
if [ -n "$node_ready" ]; then
    "$work/venv/bin/python" scripts/sdk/node_sdk.py "$work/node/node_modules" || status=1
fi
exit "$status"
