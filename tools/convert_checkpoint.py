#!/usr/bin/env python
"""Convert a PySlowFast / pytorchvideo / Caffe2 / MMAction2 SlowFast checkpoint to our key names.

    python tools/convert_checkpoint.py --from pytorchvideo --alpha 4 SLOWFAST_8x8_R50.pyth \\
        data/models/slowfast_8x8_r50_ptv.pth
    python tools/convert_checkpoint.py --from caffe2 --alpha 8 SLOWFAST_4x16_R50.pkl \\
        data/models/slowfast_4x16_r50_c2.pth

Prints what mapped to what and every config override the weights need to give the source model's features
("Build the model with: ..."; ``--alpha``: the lateral stride, 4 for 8x8 models and 8 for 4x16, which the weights
do not store; ``--form``: ``detection`` builds res5 with stride 1 (AVA-style, our default), ``recognition`` with
stride 2 as the Kinetics models were trained, for their features exactly); writes
``{"model": backbone state dict, "converted_from", "backbone_only": True, "backbone_config"}`` (tensors and plain
values only, so it loads with ``weights_only=True``). Use the output as MODEL.WEIGHT with those overrides.
Caffe2 ``.pkl`` files are read with an unpickler that builds numpy arrays and nothing else.
"""

from __future__ import annotations

import argparse
import pickle
import sys

from alphaction.checkpoint import (
    CONVERTERS,
    FORMATS,
    CheckpointError,
    ConversionError,
    load_caffe2_pkl,
    read_checkpoint,
)
from alphaction.checkpoint.convert import FORMS, extract_state_dict, format_table, model_overrides
from alphaction.utils.errors import run_cli
from alphaction.utils.io import atomic_torch_save


def convert_file(source: str, path_in: str, path_out: str, alpha: int, form: str = "detection") -> dict:
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
    overrides = model_overrides(conv, source, alpha, form)
    conv.notes.append(
        f"Sample the frames as the model was trained: INPUT.FRAME_NUM 64 INPUT.FRAME_SAMPLE_RATE 1 "
        f"INPUT.TAU {2 * alpha} gives 32 fast and {64 // (2 * alpha)} slow frames (SlowFast 8x8: alpha "
        "4, 4x16: alpha 8)."
    )
    print(format_table(conv, source, overrides))
    out = {
        "model": conv.state,
        "converted_from": source,
        "backbone_only": True,
        "backbone_config": dict(conv.backbone_config),
    }
    atomic_torch_save(out, path_out)
    print(
        f"Wrote {path_out}. Train from it with:\n  python train_net.py --config-file CONFIG --transfer "
        f"MODEL.WEIGHT {path_out} {' '.join(f'{k} {v}' for k, v in overrides)}"
    )
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--from", dest="source", required=True, choices=FORMATS, help="where the checkpoint comes from")
    p.add_argument(
        "--alpha",
        type=int,
        required=True,
        help="the model's lateral stride (slow/fast frame ratio): 4 for 8x8 models, 8 for 4x16; "
        "not stored in the weights",
    )
    p.add_argument(
        "--form",
        choices=FORMS,
        default="detection",
        help="res5 as for detection (stride 1, dilation 2; MMAction2: no dilation) or as the recognition "
        "models were trained (stride 2, POOLER_SCALE 1/32) (default: detection)",
    )
    p.add_argument("input", help="checkpoint to convert (.pth / .pyth; .pkl for caffe2)")
    p.add_argument("output", help="where to write the converted checkpoint (.pth)")
    args = p.parse_args(argv)
    convert_file(args.source, args.input, args.output, args.alpha, args.form)  # errors: exit 2 through run_cli
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))  # user errors: 'error: ...' / 'fix: ...', exit 2 (--debug: traceback)
