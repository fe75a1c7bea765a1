"""The AWS clients a router cold start makes (AppConfig's data plane, the spend table's DynamoDB, the label queue's
SQS, Bedrock), made in a fresh interpreter two ways, interleaved, median of N:

    python -m benchmarks.first_clients [--runs 9]

- "one shared session": `aws_adapters.boto_session.client` for all four, as the router makes them: one boto3
  session whose loader knows the router's services (`FastLoader`).
- "boto3's default session for the others": Bedrock on that loader but AppConfig, DynamoDB and SQS through
  `boto3.client` (the router before this benchmark): each service's first client on the default session lists
  botocore's ~400 service directories and parses the whole endpoints document.

Each figure is the time from after `import boto3` to the fourth client made (no network: making a client sends
nothing). Dummy credentials in the environment; the machine's load is printed beside the figures.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys

from benchmarks._common import ROOT, bench_env, median, spread, table

PROGRAM = """
import sys, time
import boto3
from botocore.config import Config
t0 = time.perf_counter()
from aws_adapters import boto_session
config = Config(connect_timeout=2, read_timeout=5)
if sys.argv[1] == "shared":
    for service in ("appconfigdata", "dynamodb", "sqs", "bedrock-runtime"):
        boto_session.client(service, region_name="us-east-1", config=config)
else:
    for service in ("appconfigdata", "dynamodb", "sqs"):
        boto3.client(service, region_name="us-east-1", config=config)
    boto_session.session(("bedrock-runtime",)).client("bedrock-runtime", region_name="us-east-1", config=config)
print((time.perf_counter() - t0) * 1000)
"""

WAYS = {"shared": "one shared session", "default": "boto3's default session for the others"}


def one(way: str) -> float:
    env = bench_env(AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench", AWS_DEFAULT_REGION="us-east-1")
    env["PYTHONPATH"] = str(ROOT / "lambdas")
    out = subprocess.run([sys.executable, "-c", PROGRAM, way], env=env, capture_output=True, text=True, check=True)
    return float(out.stdout.strip())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=9)
    args = parser.parse_args(argv)
    samples: dict[str, list[float]] = {way: [] for way in WAYS}
    loads = []
    for run in range(args.runs):
        loads.append(os.getloadavg()[0])
        for way in WAYS if run % 2 == 0 else reversed(WAYS):
            samples[way].append(one(way))
    ratios = [d / s for d, s in zip(samples["default"], samples["shared"], strict=True)]
    rows = [[WAYS[way], f"{median(samples[way]):.0f}", spread(samples[way], 0)] for way in WAYS]
    rows.append(["default / shared (per run)", f"{median(ratios):.2f}x", spread(ratios)])
    load = ", ".join(f"{x:.1f}" for x in loads)
    print(
        table(
            f"The router's four AWS clients in a fresh process, ms; median of {args.runs} (load {load}, "
            f"{os.cpu_count()} CPUs)",
            ["how", "median", "range"],
            rows,
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
