#!/usr/bin/env python3
"""CDK entry point: `cdk synth` or `CDK_OUTDIR=cdk.out python app.py` from the repository root."""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent
for path in (ROOT / "lambdas", ROOT):  # routing_engine.config is shared with the Lambda
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

from stacks import build_app  # noqa: E402

if __name__ == "__main__":
    app, _ = build_app()
    app.synth()
