"""Fuzz `spool serve` with schemathesis against the official Assistants v2 spec subset.

Starts an echo server, runs `schemathesis run` (bounded: `--max-examples` per operation, a
wall-clock limit) with the `not_a_server_error` check, and prints the number of requests and of
5xx answers. Exit status 1 when any 5xx was seen. Run by `make fuzz` (not part of `make test`:
it takes minutes).

    .venv/bin/python benchmarks/bench_server_fuzz.py [--max-examples 30] [--time-limit 600]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

from _server import API_KEY, spool_server_process

ROOT = Path(__file__).resolve().parents[1]
SPEC_CANDIDATES = [
    ROOT.parent / "shared" / "reference" / "openapi" / "assistants-v2.yaml",
    ROOT / "shared" / "reference" / "openapi" / "assistants-v2.yaml",
]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--max-examples", type=int, default=30)
    parser.add_argument("--time-limit", type=int, default=600, help="seconds")
    args = parser.parse_args()
    spec = next((p for p in SPEC_CANDIDATES if p.exists()), None)
    if spec is None:
        print("the spec subset (shared/reference/openapi/assistants-v2.yaml) was not found")
        return 2
    schemathesis = Path(sys.executable).with_name("schemathesis")
    with spool_server_process() as (url, _proc), tempfile.TemporaryDirectory() as scratch:
        command = [
            str(schemathesis), "run", str(spec), "--url", url,
            "-H", f"Authorization: Bearer {API_KEY}", "-H", "OpenAI-Beta: assistants=v2",
            "--checks", "not_a_server_error", "--max-examples", str(args.max_examples),
            "--generation-deterministic", "--workers", "1", "--no-color",
        ]  # fmt: skip
        try:
            # cwd: schemathesis keeps its example database in ./.schemathesis
            result = subprocess.run(
                command, capture_output=True, text=True, timeout=args.time_limit, cwd=scratch
            )
        except subprocess.TimeoutExpired as exc:
            print(f"schemathesis stopped after {args.time_limit} s")
            output = (exc.stdout or b"").decode() if isinstance(exc.stdout, bytes) else ""
            print(output[-3000:])
            return 1
    output = result.stdout + result.stderr
    failures = output.find("FAILURES")
    print(output[failures:] if failures >= 0 else output[-4000:])
    server_errors = output.count("Server error")
    print(f"schemathesis exit {result.returncode}; 'Server error' findings: {server_errors}")
    return 0 if result.returncode == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
