#!/usr/bin/env python
"""Export a trained classifier or baseline detector to TorchScript (traced) or ONNX, and check it against eager.

    python tools/export.py CONFIG CHECKPOINT --format torchscript model.pt
    python tools/export.py CONFIG CHECKPOINT --format onnx model.onnx --opset 17

CHECKPOINT is loaded as test_net.py loads it (weights_only, every model key must load); ``none`` exports random
weights (to try the tool). Prints the input / output shapes and the max abs difference between the exported and
the eager outputs on the export input and on a second input with another number of boxes (detector) or batch
size (classifier). What is exported and what is not: docs/EXPORT.md and ``alphaction.apis.export``.
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings

import torch

from alphaction.apis.export import DEFAULT_OPSET, FORMATS, export_model
from alphaction.apis.predict import init_model
from alphaction.engine.defaults import resolve_config_path
from alphaction.utils.errors import UserError, run_cli
from alphaction.utils.logger import setup_logger


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("config", help="the model's config file (YAML)")
    p.add_argument("checkpoint", help="checkpoint (.pth) to export; 'none' = random weights")
    p.add_argument("output", help="file to write (.pt for TorchScript, .onnx for ONNX)")
    p.add_argument("--format", required=True, choices=FORMATS, help="export format")
    p.add_argument("--opset", type=int, default=DEFAULT_OPSET, help="ONNX opset version (default %(default)s)")
    p.add_argument(
        "--size",
        type=int,
        nargs=2,
        metavar=("H", "W"),
        default=None,
        help="input frame size, fixed in the export (default: CROP_SIZE squares for a cropping "
        "classifier, else MIN_SIZE_TEST x 4/3 of it, capped at MAX_SIZE_TEST)",
    )
    p.add_argument(
        "--num-boxes",
        type=int,
        nargs=2,
        metavar=("N1", "N2"),
        default=None,
        help="boxes (detector) or batch size (classifier) of the export input and of the second "
        "check input (default: 3 5 boxes, batch 1 2)",
    )
    p.add_argument("--json", default="", help="also write the shapes and differences to this JSON file")
    args = p.parse_args(argv)
    setup_logger()
    checkpoint = None if args.checkpoint.lower() == "none" else args.checkpoint
    try:
        model = init_model(resolve_config_path(args.config), checkpoint)
        with warnings.catch_warnings():
            # tracing warns at every shape check of the model; check_trace / the second input show the graph
            # still holds for other box counts, and the deprecation notes of torch.jit / the TorchScript ONNX
            # exporter are stated in docs/EXPORT.md
            warnings.simplefilter("ignore", torch.jit.TracerWarning)
            warnings.simplefilter("ignore", FutureWarning)
            warnings.simplefilter("ignore", DeprecationWarning)
            result = export_model(
                model.module,
                model.cfg,
                args.format,
                args.output,
                opset=args.opset,
                size=tuple(args.size) if args.size else None,
                num_boxes=args.num_boxes,
            )
    except UserError:
        raise  # one block, exit 2, through run_cli
    except (FileNotFoundError, ValueError, TypeError, ImportError) as e:
        raise UserError(str(e), fix="check the config, the checkpoint and the export options named above") from None
    shapes = ", ".join(f"{n} {s}" for n, s in result.input_shapes.items())
    print(
        f"Wrote {result.path} ({result.fmt}{f', opset {args.opset}' if result.fmt == 'onnx' else ''}): "
        f"inputs {shapes} -> {result.output_name}"
    )
    for label, diff in result.max_abs_diff.items():
        print(f"  max abs diff to eager, {label}: {diff:.3g}")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(
                {
                    "path": result.path,
                    "format": result.fmt,
                    "opset": args.opset if result.fmt == "onnx" else None,
                    "inputs": result.input_shapes,
                    "output": result.output_name,
                    "max_abs_diff": result.max_abs_diff,
                },
                f,
                indent=2,
            )
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))  # user errors: 'error: ...' / 'fix: ...', exit 2 (--debug: traceback)
