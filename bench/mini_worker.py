"""Runs inside the bench's mini-swe-agent environment: executes shell commands with mini-swe-agent's own
`LocalEnvironment.execute` and times each one. Standard library and mini-swe-agent only.

Protocol, one JSON object per line: in `{"command": str, "cwd": str}`, out `{"seconds": float,
"returncode": int, "output": str}`. The time is taken around `execute` alone, in this process, so nothing of
the pipe between the bench and this worker is counted.
"""

from __future__ import annotations

import json
import sys
import time


def main() -> int:
    from minisweagent import __version__
    from minisweagent.environments.local import LocalEnvironment

    environment = LocalEnvironment()
    print(json.dumps({"version": __version__}), flush=True)
    for line in sys.stdin:
        request = json.loads(line)
        started = time.perf_counter()
        result = environment.execute({"command": request["command"]}, cwd=request["cwd"])
        seconds = time.perf_counter() - started
        reply = {"seconds": seconds, "returncode": result["returncode"], "output": result["output"]}
        print(json.dumps(reply), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
