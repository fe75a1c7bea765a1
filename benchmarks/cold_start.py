"""Cold start: process start to first answered request, and the import time of the app against `import boto3`,
all in fresh interpreters, interleaved, median of N.

    python -m benchmarks.cold_start [--runs 7]

- `uvicorn --factory router.http.app:create_app_from_env` (the Lambda's factory, what the Lambda Web Adapter
  runs), ROUTER_CONFIG_FILE=config/routing.json, AWS_REGION set, the Lambda's Powertools settings (tracing off):
  spawn to the first 200 of POST /v1/route with dry_run (routing decided, no model called: there is no Bedrock
  here). The configuration is loaded by that first request, as in Lambda.
- The same factory with the real boto3 bedrock-runtime client pointed at benchmarks.mock_upstreams
  (`AWS_ENDPOINT_URL_BEDROCK_RUNTIME`, the Lambda Web Adapter's headers, as benchmarks/production_path.py runs it):
  spawn to the first 200 of a real POST /v1/chat/completions: the first answer a Lambda environment gives,
  configuration load, the first botocore client (its service model) and the Converse call included.
- `python -m local.server --latency-scale 0`: spawn to the first 200 of POST /v1/chat/completions (simulated).
- `import router.http.app`, the same plus `create_app_from_env()` (what uvicorn does before it serves; it makes
  the boto3 client factory), and `import boto3` alone, each in a fresh interpreter (.pyc files compiled first).
- Where the import time goes: `python -X importtime -c "import router.http.app"` (and boto3), self time summed by
  top-level package, median over the runs.
The client polls every 5 ms, so the times are at most 5 ms late. Goal (issue 18): importing the app at most 1.2x
`import boto3`, process start to first answer at most 0.4 s.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
from collections import defaultdict
from collections.abc import Callable

from benchmarks._common import PROMPT, Server, bench_env, free_port, median, running, spread, table

IMPORT_SNIPPET = "import time; t = time.perf_counter(); import {mod}; print((time.perf_counter() - t) * 1000)"
FACTORY_SNIPPET = (
    "import time; t = time.perf_counter(); from router.http.app import create_app_from_env; create_app_from_env(); "
    "print((time.perf_counter() - t) * 1000)"
)
IMPORTTIME = re.compile(r"^import time:\s+(\d+) \|\s+(\d+) \|( +)(\S+)$")
MESSAGES = [{"role": "user", "content": PROMPT}]


def import_ms(module: str, snippet: str = IMPORT_SNIPPET) -> float:
    done = subprocess.run(
        [sys.executable, "-c", snippet.format(mod=module)],
        env=bench_env(AWS_REGION="us-east-1", AWS_DEFAULT_REGION="us-east-1"),
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return float(done.stdout.strip().splitlines()[-1])


def factory_start_ms() -> float:
    from benchmarks.production_path import ours_argv  # the command the production path runs (Lambda's own start)

    port = free_port()
    server = Server(
        "uvicorn --factory create_app_from_env",
        ours_argv(port),
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


def self_time_by_package(module: str) -> dict[str, float]:
    """ms of import self time per top-level package, from `python -X importtime -c "import module"`."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", f"import {module}"],
        env=bench_env(),
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    out: dict[str, float] = defaultdict(float)
    for line in done.stderr.splitlines():
        m = IMPORTTIME.match(line)
        if m:
            out[m[4].split(".")[0]] += int(m[1]) / 1000
    return out


class ProductionFirstAnswer:
    """Spawn to the first real answer through botocore, against one mock started once (outside the timing)."""

    def __init__(self) -> None:
        from benchmarks.production_path import mock_server

        self.mock = mock_server(free_port())

    def __enter__(self) -> ProductionFirstAnswer:
        self.mock.start()
        self.mock.wait_ready("/v1/chat/completions", timeout_s=30, body={"model": "m", "messages": MESSAGES})
        return self

    def __exit__(self, *exc) -> None:
        self.mock.stop()

    def __call__(self) -> float:
        from benchmarks.production_path import lwa_headers, ours_server

        server = ours_server(free_port(), self.mock.port)
        with running(server):
            return (
                server.wait_ready(
                    "/v1/chat/completions",
                    timeout_s=60,
                    body={"model": "faq", "messages": MESSAGES},
                    headers=lwa_headers(),
                )
                * 1000
            )


PRODUCTION = ProductionFirstAnswer()
VARIANTS: dict[str, Callable[[], float]] = {
    "uvicorn + create_app_from_env: first dry-run answer": factory_start_ms,
    "uvicorn + create_app_from_env: first answer via botocore (mock Bedrock)": PRODUCTION,
    "python -m local.server: first simulated answer": local_server_start_ms,
    "import router.http.app": lambda: import_ms("router.http.app"),
    "import router.http.app + create_app_from_env()": lambda: import_ms("", FACTORY_SNIPPET),
    "import boto3": lambda: import_ms("boto3"),
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args(argv)
    import_ms("router.http.app")  # compile .pyc files once
    samples: dict[str, list[float]] = {name: [] for name in VARIANTS}
    ratios = []
    packages: dict[str, dict[str, list[float]]] = {"router.http.app": defaultdict(list), "boto3": defaultdict(list)}
    loads = []
    with PRODUCTION:
        for r in range(args.runs):  # interleaved, in alternating order, so machine noise hits every variant alike
            loads.append(os.getloadavg()[0])
            order = list(VARIANTS.items())[:: -1 if r % 2 else 1]
            for name, fn in order:
                samples[name].append(fn())
            ratios.append(samples["import router.http.app"][-1] / samples["import boto3"][-1])
            for module, acc in packages.items():
                for package, ms in self_time_by_package(module).items():
                    acc[package].append(ms)
    rows = [[name, f"{median(v):.0f}", spread(v, 0)] for name, v in samples.items()]
    rows.append(["import router.http.app / import boto3 (per run)", f"{median(ratios):.2f}x", spread(ratios, 2)])
    print(
        table(
            f"Cold start, ms; median of {args.runs} fresh processes each, interleaved (1-minute load average per "
            f"run: {', '.join(f'{x:.1f}' for x in loads)}, {os.cpu_count()} CPUs)",
            ["what", "median", "range"],
            rows,
        )
    )
    for module, acc in packages.items():
        top = sorted(((median(v), k) for k, v in acc.items()), reverse=True)[:12]
        total = sum(median(v) for v in acc.values())
        print()
        print(
            table(
                f"python -X importtime -c 'import {module}': self time by top-level package, ms (median of "
                f"{args.runs}); all packages together {total:.0f} ms",
                ["package", "ms", "share"],
                [[k, f"{ms:.1f}", f"{100 * ms / total:.0f}%"] for ms, k in top],
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
