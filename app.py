#!/usr/bin/env python3
"""CDK entry point: `cdk synth` or `CDK_OUTDIR=cdk.out python app.py` from the repository root."""

from stacks import build_app

if __name__ == "__main__":
    app, _ = build_app()
    app.synth()
