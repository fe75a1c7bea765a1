"""Moved to `aws_adapters.bedrock`, which the router and the labeller share. Kept only for local mode's two imports
(`local/simulated_backend.py`: ERROR_CLASSES; `local/label_loop.py`: BedrockConverse) until they import from there;
nothing under lambdas/ imports this module."""

from aws_adapters.bedrock import ERROR_CLASSES, BedrockConverse

__all__ = ["ERROR_CLASSES", "BedrockConverse"]
