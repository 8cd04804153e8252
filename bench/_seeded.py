"""The command line every seeded data benchmark shares: ``--seeds N``, then a table, then one JSON line.

Each script keeps its own ``run(seeds=...) -> dict`` and ``table(result) -> str``; this is only
the wrapper that makes them look and end alike (the last printed line is the JSON object).
"""

from __future__ import annotations

import argparse
import json
from typing import Callable


def seeded_main(doc: str, run: Callable[..., dict], table: Callable[[dict], str],
                argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=doc.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=3)
    args = parser.parse_args(argv)
    result = run(seeds=args.seeds)
    print(table(result))
    if "wall_s" in result:
        print(f"({result['wall_s']} s)")
    print(json.dumps(result))
    return result
