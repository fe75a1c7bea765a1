"""AppConfig Lambda validator: a routing document AppConfig accepts is one the router can load.

AppConfig's JSON Schema validator cannot check cross-references (a route naming a model that is
not in the catalog passes it, every router then rejects the document and keeps its last good
one, and the deployment still reports COMPLETE). This validator runs the same
`routing_engine.config.parse_routing_config` the router runs, and fails the hosted version or
deployment with the ConfigError message, which names the field (`routes.faq.model: unknown
model 'ghost'`). It parses for the Region it runs in, the routers' Region, and as the routers read
(`resolve=False`): a model must name the inference profile it is called through (the stack resolves
the catalog's `inference_profile` entries at synth), and a profile that cannot be called from this
Region (`us.` in eu-west-1) is refused here rather than failing every call.

The same code validates the `learned-scorers` profile (the trainer's scorers, routing_engine.config.learned):
the stack gives each profile its own function, and CONFIG_PROFILE says which document it validates (`routing`,
the default, or `learned-scorers`). A learned document is refused unless every entry's scorer compiles with the
router's own scorer code; whether an entry still fits the routing document is decided by the routers, which
ignore (and log) one that does not, so editing routes never makes a learned version undeployable.

AppConfig invokes it with `{"applicationId", "configurationProfileId", "configurationVersion",
"content": <base64>, "uri"}` and treats any raised exception (the X-Amz-Function-Error header)
as "invalid"; the exception message is what the operator sees.
"""

from __future__ import annotations

import base64
import binascii
import logging
import os
from typing import Any

from routing_engine.config import ConfigError, parse_learned_scorers, parse_routing_config

CONFIG_PROFILE = "CONFIG_PROFILE"  # which profile this function validates (set by the stack)
ROUTING = "routing"
LEARNED_SCORERS = "learned-scorers"
PROFILES = (ROUTING, LEARNED_SCORERS)

logger = logging.getLogger("config-validator")
logger.setLevel(logging.INFO)


class InvalidRoutingConfiguration(Exception):
    """The document must not reach the routers. `str()` is shown by AppConfig and names the field."""


def profile_kind(environ=None) -> str:
    """The profile this function validates: CONFIG_PROFILE, default `routing`; anything else is a stack bug."""
    kind = (os.environ if environ is None else environ).get(CONFIG_PROFILE) or ROUTING
    if kind not in PROFILES:
        raise RuntimeError(f"{CONFIG_PROFILE} must be one of {', '.join(PROFILES)}, not {kind!r}")
    return kind


def validate(event: dict[str, Any], region: str | None = None, profile: str | None = None) -> None:
    """`region`: the routers' Region (default: this function's own, AWS_REGION); `profile`: which document
    (default: CONFIG_PROFILE)."""
    region = region or os.environ.get("AWS_REGION")
    profile = profile or profile_kind()
    try:
        raw = base64.b64decode(event["content"], validate=True)
    except (KeyError, TypeError, binascii.Error) as exc:
        raise InvalidRoutingConfiguration(f"the validator received no base64 'content' ({exc})") from None
    try:
        if profile == LEARNED_SCORERS:
            parse_learned_scorers(raw)
        else:
            parse_routing_config(raw, region=region, resolve=False)
    except ConfigError as exc:
        what = "routing configuration" if profile == ROUTING else "learned-scorers document"
        raise InvalidRoutingConfiguration(
            f"{what} version {event.get('configurationVersion', '?')} is invalid: {exc}"
        ) from None


def lambda_handler(event: dict[str, Any], _context: Any) -> None:
    where = {k: event.get(k) for k in ("applicationId", "configurationProfileId", "configurationVersion")}
    profile = profile_kind()
    what = "routing configuration" if profile == ROUTING else "learned scorers"
    try:
        validate(event, profile=profile)
    except InvalidRoutingConfiguration as exc:
        logger.error(f"{what} rejected", extra={**where, "error": str(exc)})
        raise
    logger.info(f"{what} valid", extra=where)
