#!/usr/bin/env python
"""Generate the synthetic AVA-style dataset (see alphaction/data/synthetic).

    python tools/make_synthetic_dataset.py --root data/synthetic/default --size default --seed 0 [--force]

Without ``--force`` nothing is done when ``ROOT/DONE.json`` already records the same size, seed and format.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys

from alphaction.data.synthetic import SIZES, ensure_synthetic_dataset, make_synthetic_dataset
from alphaction.utils.errors import run_cli


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", required=True, help="output folder")
    parser.add_argument("--size", choices=sorted(SIZES), default="default")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--force", action="store_true", help="regenerate even if DONE.json matches")
    parser.add_argument("--workers", type=int, default=None, help="rendering processes (default: 1 for tiny, else 2)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s: %(message)s")
    if args.force:
        make_synthetic_dataset(args.root, args.size, args.seed, workers=args.workers)
    else:
        ensure_synthetic_dataset(args.root, args.size, args.seed)
    with open(os.path.join(args.root, "DONE.json"), encoding="utf-8") as f:
        done = json.load(f)
    print(
        json.dumps(
            {
                "root": os.path.abspath(args.root),
                "generation_seconds": done["generation_seconds"],
                "stats": done["stats"],
            },
            indent=1,
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))  # user errors: 'error: ...' / 'fix: ...', exit 2 (--debug: traceback)
