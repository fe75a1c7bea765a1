"""What parsing a Claude Code-sized Anthropic request costs the router: `anthropic_api.parse` on a body shaped like
the one Claude Code 2.1.197 sends (25 tools with JSON Schema 2020-12, three system blocks with cache_control, a
system message inside `messages`, adaptive thinking, context_management), about 97 KB.

    python -m benchmarks.anthropic_parse [--repeat 5] [--number 200]

Prints the body size and, per repeat, the mean parse time; the median of the repeats last.
"""

from __future__ import annotations

import argparse
import json
import statistics
import timeit

from router.http import anthropic_api


def claude_code_body() -> str:
    def tool(i: int) -> dict:
        properties = {f"p{j}": {"type": "string", "description": "x" * 80} for j in range(8)}
        schema = {"$schema": "https://json-schema.org/draft/2020-12/schema", "type": "object"}
        return {"name": f"Tool{i}", "description": "d" * 2000, "input_schema": {**schema, "properties": properties}}

    cache = {"type": "ephemeral"}
    body = {
        "model": "claude-sonnet-4-6",
        "max_tokens": 32000,
        "stream": True,
        "thinking": {"type": "adaptive"},
        "output_config": {"effort": "high"},
        "context_management": {"edits": [{"type": "clear_thinking_20251015", "keep": "all"}]},
        "metadata": {"user_id": '{"device_id": "x"}'},
        "system": [
            {"type": "text", "text": "x-anthropic-billing-header: cc_version=2.1.197.0df; cc_entrypoint=sdk-cli;"},
            {"type": "text", "text": "s" * 3000, "cache_control": cache},
            {"type": "text", "text": "t" * 10000, "cache_control": cache},
        ],
        "tools": [tool(i) for i in range(25)],
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "u" * 4000},
                    {"type": "text", "text": "hi", "cache_control": cache},
                ],
            },
            {"role": "system", "content": "r" * 500},
        ],
    }
    return json.dumps(body)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--number", type=int, default=200)
    args = parser.parse_args()
    text = claude_code_body()
    anthropic_api.parse(text, max_messages=200)  # warm: pydantic builds its validators on first use
    means = [
        t / args.number * 1000
        for t in timeit.repeat(
            lambda: anthropic_api.parse(text, max_messages=200), repeat=args.repeat, number=args.number
        )
    ]
    print(f"body {len(text) / 1000:.1f} KB")
    print("mean parse per repeat (ms): " + ", ".join(f"{m:.2f}" for m in means))
    print(f"median {statistics.median(means):.2f} ms")


if __name__ == "__main__":
    main()
