"""Offline tools (evaluation, training) for the router.

Importing this package puts ``<repo>/lambdas`` on ``sys.path`` so that the tools
import the production code (``routing_engine.*``) exactly as the Lambda runs it.
"""
import sys
from pathlib import Path

_LAMBDAS = str(Path(__file__).resolve().parent.parent / "lambdas")
if _LAMBDAS not in sys.path:
    sys.path.insert(0, _LAMBDAS)
