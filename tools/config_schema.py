"""Write (or check) the JSON Schema files generated from the pydantic configuration model.

python -m tools.config_schema           # rewrite config/*.schema.json
python -m tools.config_schema --check   # exit 1 if a file is out of date
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from routing_engine.config import flags_json_schema, learned_json_schema, routing_json_schema

ROOT = Path(__file__).resolve().parent.parent
SCHEMAS = {
    ROOT / "config" / "routing.schema.json": routing_json_schema,
    ROOT / "config" / "failover-flags.schema.json": flags_json_schema,
    ROOT / "config" / "learned-scorers.schema.json": learned_json_schema,
}


def render(schema: dict) -> str:
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args(argv)
    stale = []
    for path, make in SCHEMAS.items():
        text = render(make())
        if args.check:
            if not path.exists() or path.read_text() != text:
                stale.append(path.name)
        else:
            path.write_text(text)
    if stale:
        print(f"out of date: {', '.join(stale)}; run python -m tools.config_schema", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
