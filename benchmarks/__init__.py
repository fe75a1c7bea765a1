"""Benchmarks (scripts and pytest-benchmark files). Importing this package puts ``<repo>/lambdas`` on
``sys.path`` so the benchmarks run the production code exactly as the Lambda imports it."""
import sys
from pathlib import Path

_LAMBDAS = str(Path(__file__).resolve().parent.parent / "lambdas")
if _LAMBDAS not in sys.path:
    sys.path.insert(0, _LAMBDAS)
