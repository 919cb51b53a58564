#!/usr/bin/env python
"""Convert a PySlowFast / pytorchvideo / Caffe2 / MMAction2 SlowFast checkpoint to our key names.

    python tools/convert_checkpoint.py --from pytorchvideo SLOWFAST_8x8_R50.pyth data/models/slowfast_8x8_r50_ptv.pth
    python tools/convert_checkpoint.py --from caffe2 SLOWFAST_8x8_R50.pkl data/models/slowfast_8x8_r50_c2.pth

Prints what mapped to what and the MODEL.BACKBONE.* overrides the weights need; writes
``{"model": backbone state dict, "converted_from", "backbone_only": True, "backbone_config"}`` (tensors and plain
values only, so it loads with ``weights_only=True``). Use the output as MODEL.WEIGHT with those overrides.
Caffe2 ``.pkl`` files are read with an unpickler that builds numpy arrays and nothing else.
"""
from __future__ import annotations

import argparse
import os
import pickle
import sys

import torch

from alphaction.checkpoint import CONVERTERS, FORMATS, CheckpointError, ConversionError, load_caffe2_pkl, read_checkpoint
from alphaction.checkpoint.convert import config_overrides, extract_state_dict, format_table


def convert_file(source: str, path_in: str, path_out: str) -> dict:
    """Convert ``path_in`` (a ``source`` checkpoint) and write ``path_out``; returns what was written."""
    if source == "caffe2":
        try:
            state = load_caffe2_pkl(path_in)
        except pickle.UnpicklingError as e:
            raise CheckpointError(f"{path_in}: {e}") from None
    else:
        data = read_checkpoint(path_in)
        try:
            state = extract_state_dict(data)
        except ValueError as e:
            raise CheckpointError(f"{path_in}: {e}") from None
    try:
        conv = CONVERTERS[source](state)
    except ConversionError as e:
        raise CheckpointError(f"{path_in}: {e}") from None
    print(format_table(conv, source))
    out = {"model": conv.state, "converted_from": source, "backbone_only": True,
           "backbone_config": dict(conv.backbone_config)}
    os.makedirs(os.path.dirname(os.path.abspath(path_out)), exist_ok=True)
    torch.save(out, path_out + ".tmp")
    os.replace(path_out + ".tmp", path_out)
    print(f"Wrote {path_out}. Train from it with:\n  python train_net.py --config-file CONFIG --transfer "
          f"MODEL.WEIGHT {path_out} {' '.join(config_overrides(conv.backbone_config))}")
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--from", dest="source", required=True, choices=FORMATS, help="where the checkpoint comes from")
    p.add_argument("input", help="checkpoint to convert (.pth / .pyth; .pkl for caffe2)")
    p.add_argument("output", help="where to write the converted checkpoint (.pth)")
    args = p.parse_args(argv)
    try:
        convert_file(args.source, args.input, args.output)
    except CheckpointError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
