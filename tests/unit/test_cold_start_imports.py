"""What a cold start loads before its first request: nothing that request may not need."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def fresh_app_process(code: str, *, without: tuple[str, ...] = ()) -> list[str]:
    """Run `code` in a fresh interpreter with the Lambda's code on its path and a routing file (the variables in
    `without` unset); its printed words."""
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT / "lambdas"),
        "ROUTER_CONFIG_FILE": str(ROOT / "config" / "routing.json"),
        "AWS_REGION": "us-east-1",
        "POWERTOOLS_TRACE_DISABLED": "true",
    }
    for name in without:
        env.pop(name, None)
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout.split()


def test_the_app_is_built_without_loading_boto3_until_a_model_is_called():
    # Given the Lambda's app factory with a routing file and no spend table or label queue (the container/local case)
    code = (
        "import sys\n"
        "from router.http.app import create_app_from_env\n"
        "create_app_from_env()\n"
        "print('boto3' in sys.modules, 'botocore.client' in sys.modules)\n"
    )
    printed = fresh_app_process(code, without=("SPEND_TABLE_NAME", "LABEL_QUEUE_URL", "APPCONFIG_APPLICATION_ID"))
    # Then neither boto3 nor a botocore client has been loaded: the first model call loads them
    assert printed == ["False", "False"]


def test_the_app_is_built_without_compiling_the_complexity_scorers_regexes():
    # Given the Lambda's app factory (static routes never score a prompt, so they never need these patterns)
    code = (
        "import re\n"
        "from router.http.app import create_app_from_env\n"
        "create_app_from_env()\n"
        "from routing_engine import scorer\n"
        "print(sorted(n for n, v in vars(scorer).items() if isinstance(v, re.Pattern)))\n"
        "scorer.bundled().score_text('Why? Explain 日本語', ())\n"
        "print(len([v for v in vars(scorer).values() if isinstance(v, re.Pattern)]))\n"
    )
    before, after = fresh_app_process(code)[:2]
    # Then none of the scorer's regexes is compiled yet; scoring a prompt compiles those it uses
    assert before == "[]"
    assert int(after) > 0


def test_the_anthropic_body_models_are_built_by_the_first_anthropic_request_not_by_the_app():
    # Given the Lambda's app factory, then an Anthropic Messages body parsed
    code = (
        "import sys\n"
        "import router.http.app\n"
        "print('router.http.anthropic_body' in sys.modules)\n"
        "from router.http import anthropic_api\n"
        'body = \'{"model": "faq", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]}\'\n'
        "print(anthropic_api.parse(body, max_messages=10).messages[0].role)\n"
        "print('router.http.anthropic_body' in sys.modules)\n"
    )
    # Then the app alone has not loaded them; the first Anthropic request has, and parses as before
    assert fresh_app_process(code) == ["False", "user", "True"]


def test_the_lambda_s_server_process_keeps_its_start_up_heap_out_of_the_collector_s_walks():
    # Given the Lambda's app factory in a fresh process
    code = (
        "import gc\n"
        "print(gc.get_freeze_count() > 0, gc.get_threshold()[0])\n"
        "from router.http.app import create_app_from_env\n"
        "create_app_from_env()\n"
        "print(gc.get_freeze_count() > 10000, gc.get_threshold()[0])\n"
    )
    # Then what start-up built is frozen (a full collection no longer walks it on a request) and the young generation
    # is collected every 10,000 allocations instead of CPython's 700
    assert fresh_app_process(code) == ["False", "700", "True", "10000"]
