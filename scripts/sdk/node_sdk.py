"""The official Node SDKs (scripts/sdk/node) against `telephony serve --sandbox`: starts the
sandbox for each provider, hands the Node checks its runtime file, reports their totals."""

import os
import subprocess
import sys

from harness import Sandbox, binary

HERE = os.path.dirname(os.path.abspath(__file__))


def main():
    modules = sys.argv[1]  # the node_modules the SDKs were installed into
    status = 0
    for provider in ("twilio", "telnyx"):
        print(f"--- official {provider} Node SDK against serve --sandbox --provider {provider}", flush=True)
        with Sandbox(binary(), provider) as sandbox:
            env = dict(os.environ)
            env["SANDBOX_RUNTIME"] = os.path.join(sandbox.dir, "data", "gateway.json")
            # ES modules resolve packages from the script's directory: run a copy next to
            # the installed node_modules.
            code = subprocess.call(["node", os.path.join(os.path.dirname(modules), f"{provider}.mjs")], env=env)
            if code:
                print(sandbox.output()[-4000:])
                status = 1
    return status


if __name__ == "__main__":
    sys.exit(main())
