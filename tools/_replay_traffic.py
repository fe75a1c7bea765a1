"""Send a realistic mix of requests to a running router, so its decision log has something to replay.

    python -m local.server --port 8091 --latency-scale 0 > /tmp/router.log &
    python -m tools._replay_traffic --url http://127.0.0.1:8091 [--rounds 3]

Every route of config/routing.json, the dynamic `auto` route with easy and hard prompts, images, a risk pattern
(forced and rejected), the three tiers through x-api-key (`callers`), caller cost ceilings, streams, a dry run and
some errors (unknown name, a request the free tier cannot afford). It only sends requests; the router writes the
lines. Standard library only.
"""

from __future__ import annotations

import argparse
import base64
import json
import sys
import urllib.error
import urllib.request

EASY = [
    "What is the capital of France?",
    "Say hello in Spanish.",
    "How many days are in a week?",
    "What colour is the sky?",
    "Translate 'thank you' into German.",
]
HARD = [
    "Design a distributed rate limiter for a multi-region API. Compare token bucket and sliding window "
    "approaches, analyse consistency trade-offs under network partitions, and derive the worst-case "
    "over-admission as a function of replication lag. Then prove the bound and sketch the implementation.",
    "Prove that every bounded monotone sequence of real numbers converges, then generalise the argument to "
    "complete lattices and explain step by step where completeness is essential. Compare with the "
    "Bolzano-Weierstrass theorem and give a counterexample over the rationals.",
    "Refactor this legacy billing system into event-sourced services: identify aggregates, design the event "
    "schema and its versioning strategy, plan a zero-downtime migration with dual writes, and analyse the "
    "failure modes of each step, including how to reconcile divergent projections.",
]
PIXEL = base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\x00" * 64).decode()


def requests() -> list[tuple[str, dict, str | None]]:
    """(path, body, api key) for one round."""
    out: list[tuple[str, dict, str | None]] = []
    for i, text in enumerate(EASY):
        out.append(("/v1/route", {"task": "faq", "prompt": text}, None))
        out.append(("/v1/route", {"task": "auto", "prompt": text}, ["local-free-key", None][i % 2]))
        out.append(
            (
                "/v1/chat/completions",
                {"model": "faq", "messages": [{"role": "user", "content": text}]},
                "local-premium-key",
            )
        )
    for i, text in enumerate(HARD):
        out.append(("/v1/route", {"task": "auto", "prompt": text}, [None, "local-premium-key", "local-free-key"][i]))
        out.append(("/v1/route", {"task": "tech_support", "prompt": text, "max_tokens": 800}, None))
        out.append(("/v1/route", {"task": "creative", "prompt": text}, "local-premium-key"))
        out.append(("/v1/route", {"task": "analytics", "prompt": text, "max_cost_usd": 0.05}, None))
        out.append(("/v1/route", {"task": "analytics", "prompt": text, "stream": True}, "local-free-key"))
        out.append(
            (
                "/v1/chat/completions",
                {"model": "auto", "stream": True, "messages": [{"role": "user", "content": text}]},
                None,
            )
        )
    out.append(("/v1/route", {"task": "tech_support", "prompt": "My VPN drops every hour. What should I check?"}, None))
    out.append(
        (
            "/v1/route",
            {
                "task": "auto",
                "messages": [
                    {
                        "role": "user",
                        "content": [
                            {"type": "text", "text": "What is in this picture?"},
                            {"type": "image", "format": "png", "data": PIXEL},
                        ],
                    }
                ],
            },
            None,
        )
    )
    out.append(("/v1/route", {"task": "faq", "prompt": "My SSN is 123-45-6789, is it on file?"}, None))
    out.append(("/v1/route", {"task": "auto", "prompt": "Update my SSN to 987-65-4321 please"}, None))
    out.append(("/v1/route", {"task": "faq", "prompt": "Charge card 4111 1111 1111 1111 for me"}, None))  # rejected
    out.append(("/v1/route", {"task": "no-such-task", "prompt": "hello"}, None))  # unknown name
    out.append(("/v1/route", {"task": "creative", "prompt": HARD[0]}, "local-free-key"))  # tier cannot use opus
    out.append(("/v1/route", {"task": "claude-haiku", "prompt": "A model asked for by name."}, None))
    out.append(("/v1/route", {"task": "auto", "prompt": HARD[1], "dry_run": True}, None))  # dry run: not replayed
    return out


def send(url: str, path: str, body: dict, key: str | None) -> int:
    headers = {"content-type": "application/json"}
    if key:
        headers["x-api-key"] = key
    req = urllib.request.Request(url + path, data=json.dumps(body).encode(), headers=headers, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            resp.read()
            return resp.status
    except urllib.error.HTTPError as exc:
        exc.read()
        return exc.code


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default="http://127.0.0.1:8080")
    parser.add_argument("--rounds", type=int, default=1)
    args = parser.parse_args(argv)
    statuses: dict[int, int] = {}
    try:
        for _ in range(args.rounds):
            for path, body, key in requests():
                status = send(args.url.rstrip("/"), path, body, key)
                statuses[status] = statuses.get(status, 0) + 1
    except (urllib.error.URLError, OSError) as exc:
        print(f"cannot reach the router at {args.url}: {getattr(exc, 'reason', exc)}", file=sys.stderr)
        return 2
    print(json.dumps({"sent": sum(statuses.values()), "statuses": statuses}), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
