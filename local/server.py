"""Run the router on this machine: the very app the Lambda serves, under uvicorn.

Routing configuration comes from a file in the repository (reloaded when it changes; an invalid edit is
rejected and the last good one kept). Models are SIMULATED unless --bedrock is given. Requests run
concurrently: the app does its blocking work in worker threads, as it does in Lambda. Budgets are enforced
against an in-memory stand-in for the spend table (moto's DynamoDB, in process, through the same adapter
code as in Lambda); it starts empty each time.

    python -m local.server [--port 8080] [--config config/routing.json] [--flags FILE] [--learned FILE]
        [--bedrock] [--latency-scale 1] [--latency-file config/local-latency.json]

--learned: a learned-scorers document (what the trainer writes to its AppConfig profile, e.g. a
`local.label_loop --learned-out` file), applied to the routing file as the routers apply it and reloaded when it
changes; absent file = no learned scorers.

The simulated models' pace comes from local mode's own file (--latency-file, see local/latency.py), not from
the routing catalog.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LOCAL_PROMPT_ROUTER_ARN = "arn:aws:bedrock:us-east-1:000000000000:prompt-router/local-simulated"
WORKER_THREADS = 256  # blocking model calls in flight at once (the simulated models sleep in these threads)
LOCAL_SPEND_TABLE = "model-router-spend-local"


class StartupError(Exception):
    """Something a person must fix before the server can start; the message says what."""


def _check_bedrock_environment(env: dict) -> str:
    """--bedrock calls real Bedrock: say at start-up what is missing, rather than failing every request."""
    region = env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION")
    if not region:
        raise StartupError("--bedrock needs a region: set AWS_REGION (for example AWS_REGION=us-east-1)")
    import boto3

    if boto3.session.Session(region_name=region).get_credentials() is None:
        raise StartupError(
            "--bedrock needs AWS credentials: none were found (set AWS_PROFILE, or "
            "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or run `aws configure`)"
        )
    return region


def _check_calls_from(region: str, config) -> None:
    """Locally the catalog's `inference_profile` entries call the default geography's profiles (there is no stack
    Region to resolve them for): refuse to start where those cannot be called, rather than failing every request."""
    from routing_engine.config import geography

    problems = [
        f"models.{key}: {problem}"
        for key, spec in config.models.items()
        if (problem := geography.profile_problem(spec.model_id, spec.region or region))
    ]
    if problems:
        raise StartupError(
            f"--bedrock from {region}: the local server calls the catalog's '{geography.DEFAULT_GEOGRAPHY}.' profiles, "
            f"which {region} cannot call ({'; '.join(problems)}); use a Region of that geography (AWS_REGION), or "
            "point --config at a copy that pins each model_id to your Region's profile"
        )


def local_spend_table():
    """(a DynamoDB client for an in-memory spend table, a function that stops the stand-in): moto, in this
    process, with the table created; (None, a no-op) without moto. Only DynamoDB is faked: every other AWS call
    (--bedrock) passes through with the real credentials. Stop it before returning: moto patches botocore
    process-wide."""
    try:
        import boto3
        from moto import mock_aws
    except ImportError:
        return None, lambda: None
    from router.adapters.spend_store import create_table

    mock = mock_aws(
        config={
            "core": {"mock_credentials": False, "passthrough": {"urls": [r"^https?://(?!dynamodb\.)"], "services": []}}
        }
    )
    mock.start()  # for the life of the server
    client = boto3.client(
        "dynamodb", region_name="us-east-1", aws_access_key_id="local", aws_secret_access_key="local"
    )  # moto accepts any credentials
    create_table(client, LOCAL_SPEND_TABLE)
    return client, mock.stop


def build(
    config_file: str,
    flags_file: str | None,
    *,
    bedrock: bool,
    faults: str | None,
    latency_scale: float,
    latency_file: str | None = None,
    env: dict | None = None,
    spend_client=None,
    learned_file: str | None = None,
):
    """(the ASGI app, the service, the simulated backend or None). Raises StartupError naming what is wrong.
    `latency_file`: the simulated models' latencies (default: config/local-latency.json).
    `spend_client`: a DynamoDB client whose table LOCAL_SPEND_TABLE holds spend (see local_spend_table)."""
    env = dict(os.environ if env is None else env)
    if spend_client is not None:
        env["SPEND_TABLE_NAME"] = LOCAL_SPEND_TABLE
    for name, value in (
        ("POWERTOOLS_SERVICE_NAME", "model-router"),
        ("POWERTOOLS_METRICS_NAMESPACE", "ModelRouter"),
        ("POWERTOOLS_TRACE_DISABLED", "true"),
        ("POWERTOOLS_METRICS_DISABLED", "true"),
    ):
        os.environ.setdefault(name, value)  # read by Powertools at import
    from local.latency import DEFAULT_FILE, LatencyFileError, SimulatedLatency
    from local.simulated_backend import (
        FaultSpecError,
        SimulatedBedrock,
        parse_faults,
        simulated_client_factory,
        validate_fault_keys,
    )
    from router import wiring
    from router.http.app import create_app
    from routing_engine.config import parse_routing_config

    try:  # say exactly what is wrong with the file before serving anything
        config = parse_routing_config(Path(config_file).read_bytes())
    except OSError as exc:
        raise StartupError(f"cannot read the routing configuration {config_file}: {exc.strerror}") from None
    except ValueError as exc:
        raise StartupError(f"invalid routing configuration {config_file}: {exc}") from None
    env["ROUTER_CONFIG_FILE"] = config_file
    if flags_file:
        env["ROUTER_FLAGS_FILE"] = flags_file
    if learned_file:
        env["ROUTER_LEARNED_FILE"] = learned_file
    backend = None
    if bedrock:
        _check_calls_from(_check_bedrock_environment(env), config)
        service = wiring.service_from_env(env=env, spend_client=spend_client)
    else:
        # Prompt routers without their own ARN use the stack's; locally the simulated backend plays that router.
        env.setdefault("PROMPT_ROUTER_ARN", LOCAL_PROMPT_ROUTER_ARN)
        try:
            parsed_faults = parse_faults(faults)
            validate_fault_keys(parsed_faults, config)
            latency = SimulatedLatency.load(latency_file or DEFAULT_FILE)
        except (FaultSpecError, LatencyFileError) as exc:
            raise StartupError(str(exc)) from None
        holder: dict = {}
        backend = SimulatedBedrock(
            lambda: holder["service"].routing.get().value.config,
            faults=parsed_faults,
            latency=latency,
            latency_scale=latency_scale,
        )
        service = wiring.service_from_env(
            env=env, client_factory=simulated_client_factory(backend), backend="simulated", spend_client=spend_client
        )
        holder["service"] = service
    service.routing.get()  # load (and validate) the configuration before the first request
    return create_app(service, identity="api_key_header"), service, backend


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8080")))
    parser.add_argument("--config", default=os.environ.get("ROUTER_CONFIG_FILE", str(ROOT / "config/routing.json")))
    parser.add_argument(
        "--flags",
        default=os.environ.get("LOCAL_FLAGS_FILE", str(ROOT / "config/local-flags.json")),
        help="failover flags file, reloaded like the routing file (absent = no flags)",
    )
    parser.add_argument(
        "--learned",
        default=os.environ.get("LOCAL_LEARNED_FILE", str(ROOT / "config/local-learned-scorers.json")),
        help="learned-scorers file, reloaded like the routing file (absent = no learned scorers)",
    )
    parser.add_argument("--bedrock", action="store_true", help="call real Amazon Bedrock (needs AWS credentials)")
    parser.add_argument(
        "--latency-scale",
        type=float,
        default=float(os.environ.get("LOCAL_LATENCY_SCALE", "1")),
        help="multiply the simulated models' latency (0 = instant)",
    )
    parser.add_argument(
        "--latency-file",
        default=os.environ.get("LOCAL_LATENCY_FILE", str(ROOT / "config/local-latency.json")),
        help="the simulated models' latency in ms per model key (default_ms for the others)",
    )
    args = parser.parse_args(argv)
    spend_client, stop_spend_table = local_spend_table()
    try:
        return _serve(args, spend_client)
    finally:
        stop_spend_table()


def _serve(args: argparse.Namespace, spend_client) -> int:
    try:
        app, service, backend = build(
            args.config,
            args.flags,
            bedrock=args.bedrock,
            faults=os.environ.get("LOCAL_FAULTS"),
            latency_scale=args.latency_scale,
            latency_file=args.latency_file,
            spend_client=spend_client,
            learned_file=args.learned,
        )
    except StartupError as exc:
        print(f"model-router: cannot start: {exc}", file=sys.stderr)
        return 2
    import socket

    import anyio.to_thread
    import uvicorn

    from local.http_limits import BoundedHeadProtocol
    from router.http.app import tune_gc

    tune_gc()  # a long-lived server process, as in Lambda (docs/decisions.md, 2026-12-08)

    try:  # bind first, so a taken port is a one-line error and uvicorn gets a ready socket
        # IPPROTO_TCP, not 0: asyncio turns TCP_NODELAY on only for sockets that say they are TCP, and without it
        # every response waited ~40 ms (Nagle + delayed ACK) between its headers and its body.
        sock = socket.socket(
            socket.AF_INET6 if ":" in args.host else socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP
        )
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((args.host, args.port))
    except OSError as exc:
        print(f"model-router: cannot listen on {args.host}:{args.port}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    snap = service.routing.get()
    mode = "REAL Amazon Bedrock" if args.bedrock else "SIMULATED models (answers are not from real models)"
    print(f"model-router local mode on http://{args.host}:{sock.getsockname()[1]}", file=sys.stderr)
    print(f"  backend: {mode}", file=sys.stderr)
    print(f"  config:  {args.config} (version {snap.version}, reloaded on change)", file=sys.stderr)
    print(f"  flags:   {args.flags}", file=sys.stderr)
    print(f"  learned: {args.learned}", file=sys.stderr)
    if spend_client is not None:
        print(
            f"  spend:   in-memory stand-in for the spend table (moto DynamoDB, {LOCAL_SPEND_TABLE}); "
            "budgets enforced, spend forgotten at exit",
            file=sys.stderr,
        )
    else:
        print("  spend:   no spend table (moto is not installed): budgets are not enforced", file=sys.stderr)
    if backend is not None:  # a model the file does not name answers at its default: say which
        missing = [key for key in snap.value.config.models if key not in backend.latency.models]
        note = f"; {', '.join(missing)} at the default {backend.latency.default_ms:g} ms" if missing else ""
        print(f"  latency: {args.latency_file} (scale {args.latency_scale:g}){note}", file=sys.stderr)
    if backend is not None and backend.faults:
        print(f"  faults:  {os.environ.get('LOCAL_FAULTS')}", file=sys.stderr)
    use_uvloop = _uvloop_available()
    print(
        f"  loop:    {'uvloop' if use_uvloop else 'asyncio (uvloop is not installed: pip install uvloop)'}",
        file=sys.stderr,
    )
    sys.stderr.flush()

    async def serve() -> None:
        anyio.to_thread.current_default_thread_limiter().total_tokens = WORKER_THREADS
        # Clients keep connections alive between requests; a 5 s idle close (uvicorn's default) races a reuse.
        config = uvicorn.Config(
            app,
            http=BoundedHeadProtocol,  # a head over 16 KiB is a 431 as it arrives (local/http_limits.py)
            log_level="warning",
            access_log=False,
            backlog=2048,
            timeout_keep_alive=75,
            timeout_graceful_shutdown=5,
            lifespan="off",
        )
        await uvicorn.Server(config).serve(sockets=[sock])

    with contextlib.suppress(KeyboardInterrupt):
        anyio.run(serve, backend_options={"use_uvloop": use_uvloop})
    return 0


def _uvloop_available() -> bool:
    """uvloop (bundled with the Lambda, lambdas/requirements.txt) is the loop the Lambda's uvicorn picks; without it
    the server still runs, on asyncio's own loop, and says so."""
    try:
        import uvloop  # noqa: F401
    except ImportError:
        return False
    return True


if __name__ == "__main__":
    sys.exit(main())
