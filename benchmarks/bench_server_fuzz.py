"""Fuzz `spool serve` with schemathesis against an official spec subset: Assistants v2, or with
`--spec files-vector-stores` the Files and Vector stores subset.

Starts an echo server, runs `schemathesis run` (bounded: `--max-examples` per operation, a
wall-clock limit) with the `not_a_server_error` check, and prints the number of requests and of
5xx answers. Exit status 1 when any 5xx was seen. Run by `make fuzz` (not part of `make test`:
it takes minutes).

    .venv/bin/python benchmarks/bench_server_fuzz.py [--max-examples 30] [--time-limit 600]
        [--spec assistants-v2|files-vector-stores]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

from _server import API_KEY, spool_server_process

ROOT = Path(__file__).resolve().parents[1]
SPEC_DIRS = [
    ROOT.parent / "shared" / "reference" / "openapi",
    ROOT / "shared" / "reference" / "openapi",
]


def _resolvable(spec: Path, scratch: str) -> Path:
    """The spec, or a copy in `scratch` with a stub for every response it names but lacks (the
    files subset refers to `#/components/responses/TooManyRequests`, which it leaves out)."""
    import re

    import yaml

    text = spec.read_text(encoding="utf-8")
    named = set(re.findall(r"#/components/responses/(\w+)", text))
    data = yaml.safe_load(text)
    responses = data.setdefault("components", {}).setdefault("responses", {}) or {}
    missing = named - set(responses)
    if not missing:
        return spec
    for name in missing:
        responses[name] = {"description": f"{name} (stub: not in the subset)"}
    data["components"]["responses"] = responses
    patched = Path(scratch) / spec.name
    patched.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return patched


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--max-examples", type=int, default=30)
    parser.add_argument("--time-limit", type=int, default=600, help="seconds")
    parser.add_argument(
        "--spec",
        default="assistants-v2",
        choices=["assistants-v2", "files-vector-stores", "files-vector-stores.normalized"],
    )
    args = parser.parse_args()
    spec = next(
        (d / f"{args.spec}.yaml" for d in SPEC_DIRS if (d / f"{args.spec}.yaml").exists()), None
    )
    if spec is None:
        print(f"the spec subset (shared/reference/openapi/{args.spec}.yaml) was not found")
        return 2
    schemathesis = Path(sys.executable).with_name("schemathesis")
    with spool_server_process() as (url, _proc), tempfile.TemporaryDirectory() as scratch:
        spec = _resolvable(spec, scratch)
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
