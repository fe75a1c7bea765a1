"""Cold start: process start to first answered request, and the import time of the app against `import boto3`,
all in fresh interpreters, interleaved, median of N.

    python -m benchmarks.cold_start [--runs 7]

- `uvicorn --factory router.http.app:create_app_from_env` (the Lambda's factory, what the Lambda Web Adapter
  runs), ROUTER_CONFIG_FILE=config/routing.json, AWS_REGION set, the Lambda's Powertools settings (tracing off):
  spawn to the first 200 of POST /v1/route with dry_run (routing decided, no model called: there is no Bedrock
  here). The configuration is loaded by that first request, as in Lambda.
- `python -m local.server --latency-scale 0`: spawn to the first 200 of POST /v1/chat/completions (simulated).
- `import router.http.app` and `import boto3` alone, each in a fresh interpreter (.pyc files compiled first).
The client polls every 5 ms, so the times are at most 5 ms late.
"""

from __future__ import annotations

import argparse
import subprocess
import sys

from benchmarks._common import PROMPT, Server, bench_env, free_port, median, running, spread, table

IMPORT_SNIPPET = "import time; t = time.perf_counter(); import {mod}; print((time.perf_counter() - t) * 1000)"
MESSAGES = [{"role": "user", "content": PROMPT}]


def import_ms(module: str) -> float:
    done = subprocess.run(
        [sys.executable, "-c", IMPORT_SNIPPET.format(mod=module)],
        env=bench_env(),
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return float(done.stdout.strip().splitlines()[-1])


def factory_start_ms() -> float:
    port = free_port()
    server = Server(
        "uvicorn --factory create_app_from_env",
        [
            sys.executable,
            "-m",
            "uvicorn",
            "--factory",
            "router.http.app:create_app_from_env",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            "warning",
            "--no-access-log",
        ],
        port,
        bench_env(AWS_REGION="us-east-1", AWS_DEFAULT_REGION="us-east-1"),
    )
    with running(server):
        return (
            server.wait_ready("/v1/route", timeout_s=60, body={"task": "faq", "messages": MESSAGES, "dry_run": True})
            * 1000
        )


def local_server_start_ms() -> float:
    port = free_port()
    server = Server(
        "local.server",
        [sys.executable, "-m", "local.server", "--port", str(port), "--latency-scale", "0"],
        port,
        bench_env(),
    )
    with running(server):
        return (
            server.wait_ready("/v1/chat/completions", timeout_s=60, body={"model": "faq", "messages": MESSAGES}) * 1000
        )


VARIANTS = {
    "uvicorn + create_app_from_env: first dry-run answer": factory_start_ms,
    "python -m local.server: first simulated answer": local_server_start_ms,
    "import router.http.app": lambda: import_ms("router.http.app"),
    "import boto3": lambda: import_ms("boto3"),
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args(argv)
    import_ms("router.http.app")  # compile .pyc files once
    samples: dict[str, list[float]] = {name: [] for name in VARIANTS}
    ratios = []
    for r in range(args.runs):  # interleaved, in alternating order, so machine noise hits every variant alike
        order = list(VARIANTS.items())[:: -1 if r % 2 else 1]
        for name, fn in order:
            samples[name].append(fn())
        ratios.append(samples["import router.http.app"][-1] / samples["import boto3"][-1])
    rows = [[name, f"{median(v):.0f}", spread(v, 0)] for name, v in samples.items()]
    rows.append(["import router.http.app / import boto3 (per run)", f"{median(ratios):.2f}x", spread(ratios, 2)])
    print(
        table(
            f"Cold start, ms; median of {args.runs} fresh processes each, interleaved",
            ["what", "median", "range"],
            rows,
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
