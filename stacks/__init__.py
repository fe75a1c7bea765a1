"""Infrastructure: `build_app` turns CDK context into a synthesizable app."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from aws_cdk import App, Environment
from aws_cdk import aws_lambda as lambda_

from stacks.constructs.routing_config_store import load_routing_document
from stacks.lambda_asset import stage_lambda_asset
from stacks.nag import add_nag_checks
from stacks.router_stack import RouterStack
from stacks.settings import REPO_ROOT, settings_from_context

LAMBDA_SOURCE_DIR = REPO_ROOT / "lambdas"


def cdk_json_context(path: Path = REPO_ROOT / "cdk.json") -> dict[str, Any]:
    return dict(json.loads(path.read_text()).get("context", {}))


def build_app(
    context: Mapping[str, Any] | None = None,
    *,
    outdir: str | None = None,
    nag: bool = True,
    staging_root: Path | None = None,
) -> tuple[App, RouterStack]:
    """Build the app from `context` (default: cdk.json's, unless the CDK CLI supplied it).

    Raises SettingsError for a bad context value and ConfigError for a bad routing file,
    before any construct exists.
    """
    if context is None:
        context = {} if "CDK_CONTEXT_JSON" in os.environ else cdk_json_context()
    app = App(context=dict(context), outdir=outdir)
    settings = settings_from_context(app.node.get_all_context())
    document = load_routing_document(settings.routing_config_path, region=settings.region)
    code_dir = stage_lambda_asset(
        source_dir=LAMBDA_SOURCE_DIR,
        routing_config=document.raw,
        staging_root=staging_root or Path(app.outdir) / ".lambda-staging",
    )
    env = None
    if settings.account or settings.region:
        env = Environment(account=settings.account, region=settings.region)
    stack = RouterStack(
        app,
        f"ModelRouter-{settings.stage}",
        settings=settings,
        routing_document=document,
        lambda_code=lambda_.Code.from_asset(str(code_dir)),
        env=env,
        description=f"Model router for Amazon Bedrock ({settings.stage})",
    )
    if nag:
        add_nag_checks(app)
    return app, stack
