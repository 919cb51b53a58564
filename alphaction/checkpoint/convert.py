"""Foreign SlowFast checkpoints -> our key names: pure key-map functions, one per source.

Each ``convert_<source>(state)`` takes a flat ``{name: tensor}`` dict and returns a :class:`Conversion`: the
state dict in our names (``backbone.{slow,fast}...``, backbone only: recognition / detection heads of other
projects do not fit our ROI head and are dropped), a table of what mapped to what, and the
``MODEL.BACKBONE.SLOWFAST.*`` values the weights need. The maps follow the naming table of
``shared/specs/ava_formats_and_checkpoint_naming.md`` §4 and PySlowFast's ``c2_model_loading.py`` rules.

Sources: ``pyslowfast`` (``s1.pathway0_stem...``), ``pytorchvideo`` (``blocks.N.multipathway_blocks...``),
``caffe2`` (PySlowFast's Caffe2 ``.pkl`` blob names, read with :func:`load_caffe2_pkl`) and ``mmaction2``
(``backbone.slow_path...``). Nothing here reads the config or touches a model.
"""

from __future__ import annotations

import io
import pickle
import re
from dataclasses import dataclass, field
from typing import Any, Callable

import torch

from ..utils.errors import UserError

FORMATS = ("pyslowfast", "pytorchvideo", "caffe2", "mmaction2")
PATHS = ("slow", "fast")  # pathway index 0 / 1 in PySlowFast and pytorchvideo
BN_FIELDS = ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")


class ConversionError(UserError, ValueError):
    """A checkpoint whose architecture our SlowFast cannot represent exactly; the message names the mismatch."""


@dataclass
class Conversion:
    state: dict[str, torch.Tensor]
    table: list[tuple[str, str, str]] = field(default_factory=list)  # (source key, our key or "-", note)
    backbone_config: dict[str, Any] = field(default_factory=dict)  # MODEL.BACKBONE.SLOWFAST.* the weights need
    notes: list[str] = field(default_factory=list)


def _stage_block(path: str, stage: int, block: int) -> str:
    """Our prefix of block ``block`` of ResNet stage ``stage`` (2..5)."""
    return f"backbone.{path}.res_nl{stage - 1}.res_{block}"


def _rename(
    state: dict[str, torch.Tensor],
    rules: list[tuple[str, Callable[[re.Match], str]]],
    dropped: list[tuple[str, str]],
    source: str,
) -> Conversion:
    out = Conversion(state={})
    for key, value in state.items():
        for pattern, note in dropped:
            if re.match(pattern, key):
                out.table.append((key, "-", note))
                break
        else:
            for pattern, target in rules:
                m = re.fullmatch(pattern, key)
                if m:
                    new = target(m)
                    out.state[new] = value
                    out.table.append((key, new, ""))
                    break
            else:
                raise ConversionError(
                    f"{source}: no rule maps {key!r}; this is not a SlowFast-ResNet checkpoint our "
                    "backbone can represent (non-local blocks, other depths or layouts are not "
                    "provided)"
                )
    return out


def _fuse_form(conv: Conversion, source: str) -> Conversion:
    """Backbone settings of the PySlowFast / pytorchvideo form, read from the weights where they show."""
    lateral = conv.state.get("backbone.fast.Tconv1.conv.weight")
    if lateral is None:
        raise ConversionError(f"{source}: no lateral (fast-to-slow fusion) conv after the stem; not a SlowFast model")
    conv.backbone_config.update({"LATERAL": "fuse", "LATERAL_KERNEL": int(lateral.shape[2]), "STEM_POOL_PADDING": True})
    conv.notes.append(
        "Lateral stride = INPUT.ALPHA is not stored in the weights: use the checkpoint's (8x8: 4, 4x16: 8)."
    )
    conv.notes.append(
        "Recognition models have res5 stride 2 without dilation; for detection keep RES5_STRIDE 1 / "
        "RES5_DILATION 2 (what PySlowFast does for AVA), or set 2 / 1 and POOLER_SCALE 1/32 to "
        "reproduce their features exactly."
    )
    _add_depth(conv)
    return conv


def _add_depth(conv: Conversion) -> None:
    blocks = {int(m.group(1)) for k in conv.state if (m := re.match(r"backbone\.slow\.res_nl3\.res_(\d+)\.", k))}
    conv_body = {1: "Slowfast-Resnet14", 6: "Slowfast-Resnet50", 23: "Slowfast-Resnet101"}.get(len(blocks))
    if conv_body is None:
        raise ConversionError(
            f"res4 has {len(blocks)} blocks: only ResNet-50 (6), ResNet-101 (23) and our "
            "CPU-sized Resnet14 (1) are provided"
        )
    conv.backbone_config["CONV_BODY"] = conv_body


_BN = r"(weight|bias|running_mean|running_var|num_batches_tracked)"


def convert_pyslowfast(state: dict[str, torch.Tensor]) -> Conversion:
    """PySlowFast ``SlowFast`` (``s1.pathway{p}_stem``, ``s{k}_fuse``, ``s{s}.pathway{p}_res{i}.branch2.{a,b,c}``)."""
    state = _strip_all(state, "model.")
    rules = [
        (r"s1\.pathway([01])_stem\.conv\.weight", lambda m: f"backbone.{PATHS[int(m[1])]}.conv1.weight"),
        (rf"s1\.pathway([01])_stem\.bn\.{_BN}", lambda m: f"backbone.{PATHS[int(m[1])]}.bn1.{m[2]}"),
        (r"s([1-4])_fuse\.conv_f2s\.weight", lambda m: f"backbone.fast.Tconv{m[1]}.conv.weight"),
        (rf"s([1-4])_fuse\.bn\.{_BN}", lambda m: f"backbone.fast.Tconv{m[1]}.bn.{m[2]}"),
        (
            r"s([2-5])\.pathway([01])_res(\d+)\.branch2\.([abc])\.weight",
            lambda m: (
                f"{_stage_block(PATHS[int(m[2])], int(m[1]), int(m[3]))}.btnk.conv{'abc'.index(m[4]) + 1}.conv.weight"
            ),
        ),
        (
            rf"s([2-5])\.pathway([01])_res(\d+)\.branch2\.([abc])_bn\.{_BN}",
            lambda m: (
                f"{_stage_block(PATHS[int(m[2])], int(m[1]), int(m[3]))}.btnk.conv{'abc'.index(m[4]) + 1}.bn.{m[5]}"
            ),
        ),
        (
            r"s([2-5])\.pathway([01])_res(\d+)\.branch1\.weight",
            lambda m: f"{_stage_block(PATHS[int(m[2])], int(m[1]), int(m[3]))}.shortcut.conv.weight",
        ),
        (
            rf"s([2-5])\.pathway([01])_res(\d+)\.branch1_bn\.{_BN}",
            lambda m: f"{_stage_block(PATHS[int(m[2])], int(m[1]), int(m[3]))}.shortcut.bn.{m[4]}",
        ),
    ]
    dropped = [(r"head\.", "recognition/detection head (does not fit our ROI head)")]
    return _fuse_form(_rename(state, rules, dropped, "pyslowfast"), "pyslowfast")


def convert_pytorchvideo(state: dict[str, torch.Tensor]) -> Conversion:
    """pytorchvideo ``create_slowfast`` (``blocks.N.multipathway_blocks``, ``blocks.N.multipathway_fusion``);
    the ``model.`` prefix of its detection models is removed first."""
    state = _strip_all({k: v for k, v in state.items() if not k.startswith("detection_head.")}, "model.") | {
        k: v for k, v in state.items() if k.startswith("detection_head.")
    }
    rb = r"blocks\.([1-4])\.multipathway_blocks\.([01])\.res_blocks\.(\d+)"

    def blk(m: re.Match) -> str:
        return _stage_block(PATHS[int(m[2])], int(m[1]) + 1, int(m[3]))

    rules = [
        (
            r"blocks\.0\.multipathway_blocks\.([01])\.conv\.weight",
            lambda m: f"backbone.{PATHS[int(m[1])]}.conv1.weight",
        ),
        (rf"blocks\.0\.multipathway_blocks\.([01])\.norm\.{_BN}", lambda m: f"backbone.{PATHS[int(m[1])]}.bn1.{m[2]}"),
        (
            r"blocks\.([0-3])\.multipathway_fusion\.conv_fast_to_slow\.weight",
            lambda m: f"backbone.fast.Tconv{int(m[1]) + 1}.conv.weight",
        ),
        (
            rf"blocks\.([0-3])\.multipathway_fusion\.norm\.{_BN}",
            lambda m: f"backbone.fast.Tconv{int(m[1]) + 1}.bn.{m[2]}",
        ),
        (rf"{rb}\.branch2\.conv_([abc])\.weight", lambda m: f"{blk(m)}.btnk.conv{'abc'.index(m[4]) + 1}.conv.weight"),
        (rf"{rb}\.branch2\.norm_([abc])\.{_BN}", lambda m: f"{blk(m)}.btnk.conv{'abc'.index(m[4]) + 1}.bn.{m[5]}"),
        (rf"{rb}\.branch1_conv\.weight", lambda m: f"{blk(m)}.shortcut.conv.weight"),
        (rf"{rb}\.branch1_norm\.{_BN}", lambda m: f"{blk(m)}.shortcut.bn.{m[4]}"),
    ]
    dropped = [
        (r"blocks\.6\.", "recognition head (does not fit our ROI head)"),
        (r"detection_head\.", "detection head (does not fit our ROI head)"),
    ]
    return _fuse_form(_rename(state, rules, dropped, "pytorchvideo"), "pytorchvideo")


# PySlowFast's c2_model_loading.py rules (SlowFast-ResNet subset: no non-local, no SE), applied in order
_C2_RULES = [
    (r"^t_pool1_subsample_bn_(.*)", r"s1_fuse.bn.\1"),
    (r"^t_pool1_subsample_(.*)", r"s1_fuse.conv_f2s.\1"),
    (r"^t_res([0-9]+)_([0-9]+)_branch2c_bn_subsample_bn_(.*)", r"s\1_fuse.bn.\3"),
    (r"^t_res([0-9]+)_([0-9]+)_branch2c_bn_subsample_(.*)", r"s\1_fuse.conv_f2s.\3"),
    (r"^res([0-9]+)_([0-9]+)_branch([0-9]+)([a-z])_(.*)", r"s\1.pathway0_res\2.branch\3.\4_\5"),
    (r"^res_conv1_bn_(.*)", r"s1.pathway0_stem.bn.\1"),
    (r"^conv1_(.*)", r"s1.pathway0_stem.conv.\1"),
    (r"^res([0-9]+)_([0-9]+)_branch([0-9]+)_(.*)", r"s\1.pathway0_res\2.branch\3_\4"),
    (r"^t_res([0-9]+)_([0-9]+)_branch([0-9]+)([a-z])_(.*)", r"s\1.pathway1_res\2.branch\3.\4_\5"),
    (r"^t_res_conv1_bn_(.*)", r"s1.pathway1_stem.bn.\1"),
    (r"^t_conv1_(.*)", r"s1.pathway1_stem.conv.\1"),
    (r"^t_res([0-9]+)_([0-9]+)_branch([0-9]+)_(.*)", r"s\1.pathway1_res\2.branch\3_\4"),
    (r"^pred_(.*)", r"head.projection.\1"),
    (r"(.*)bn.b\Z", r"\1bn.bias"),
    (r"(.*)bn.s\Z", r"\1bn.weight"),
    (r"(.*)bn.rm\Z", r"\1bn.running_mean"),
    (r"(.*)bn.riv\Z", r"\1bn.running_var"),  # Caffe2 SpatialBN's saved "riv" is the running variance
    (r"(.*)[\._]b\Z", r"\1.bias"),
    (r"(.*)[\._]w\Z", r"\1.weight"),
]


def caffe2_to_pyslowfast_name(name: str) -> str:
    """One Caffe2 blob name in PySlowFast's module names
    (``res4_4_branch2c_bn_s`` -> ``s4.pathway0_res4.branch2.c_bn.weight``)."""
    for pattern, repl in _C2_RULES:
        name = re.sub(pattern, repl, name)
    return name


def convert_caffe2(blobs: dict[str, Any]) -> Conversion:
    """Caffe2 blobs (``t_`` prefix = fast pathway) -> PySlowFast names -> ours. Solver blobs
    (``*_momentum``, ``lr``, ``model_iter``) are dropped; numpy arrays become tensors."""
    renamed: dict[str, torch.Tensor] = {}
    skipped: list[tuple[str, str, str]] = []
    back: dict[str, str] = {}
    for name, value in blobs.items():
        if name.endswith("_momentum") or name in ("lr", "model_iter"):
            skipped.append((name, "-", "solver state"))
            continue
        if "nonlocal" in name:
            raise ConversionError(f"caffe2: {name!r} belongs to a non-local block; non-local blocks are not provided")
        new = caffe2_to_pyslowfast_name(name)
        renamed[new] = torch.as_tensor(value).clone()
        back[new] = name
    conv = convert_pyslowfast(renamed)
    conv.table = [(back.get(src, src), dst, note or f"via {src}") for src, dst, note in conv.table] + skipped
    return conv


def convert_mmaction2(state: dict[str, torch.Tensor]) -> Conversion:
    """MMAction2 ``ResNet3dSlowFast`` (``backbone.slow_path...``, ``backbone.fast_path...``), bottleneck depths 50/101.

    Default MMAction2 laterals are a bias-free conv only (``lateral_norm=False``): that is our ``tconv`` form with a
    zero bias, which is added here. With ``lateral_norm=True`` (conv + BN + ReLU) it is the ``fuse`` form.
    """
    state = _strip_all(state, "module.")
    for key in state:
        if "non_local" in key:
            raise ConversionError(f"mmaction2: {key!r} is a non-local block; non-local blocks are not provided")
        if re.match(r"backbone\.fast_path\..*lateral", key):
            raise ConversionError(
                f"mmaction2: {key!r}: a lateral on the fast pathway (slow-to-fast fusion) has no "
                "counterpart in SlowFast as we build it"
            )
        if (
            re.match(r"backbone\.(slow|fast)_path\.layer\d+\.\d+\.conv2\.", key)
            and key.replace(".conv2.", ".conv3.") not in state
        ):
            raise ConversionError(
                f"mmaction2: {key!r} belongs to a BasicBlock (ResNet-18/34); only bottleneck "
                "ResNet-50/101 SlowFast is provided"
            )
    lat = r"backbone\.slow_path\.(conv1|layer[123])_lateral"

    def lat_index(m: re.Match) -> int:
        return 1 if m[1] == "conv1" else int(m[1][-1]) + 1

    def blk(m: re.Match) -> str:
        return _stage_block(m[1], int(m[2]) + 1, int(m[3]))

    rb = r"backbone\.(slow|fast)_path\.layer([1-4])\.(\d+)"
    rules = [
        (r"backbone\.(slow|fast)_path\.conv1\.conv\.weight", lambda m: f"backbone.{m[1]}.conv1.weight"),
        (rf"backbone\.(slow|fast)_path\.conv1\.bn\.{_BN}", lambda m: f"backbone.{m[1]}.bn1.{m[2]}"),
        (rf"{lat}\.conv\.weight", lambda m: f"backbone.fast.Tconv{lat_index(m)}.conv.weight"),
        (rf"{lat}\.bn\.{_BN}", lambda m: f"backbone.fast.Tconv{lat_index(m)}.bn.{m[2]}"),
        (rf"{rb}\.conv([123])\.conv\.weight", lambda m: f"{blk(m)}.btnk.conv{m[4]}.conv.weight"),
        (rf"{rb}\.conv([123])\.bn\.{_BN}", lambda m: f"{blk(m)}.btnk.conv{m[4]}.bn.{m[5]}"),
        (rf"{rb}\.downsample\.conv\.weight", lambda m: f"{blk(m)}.shortcut.conv.weight"),
        (rf"{rb}\.downsample\.bn\.{_BN}", lambda m: f"{blk(m)}.shortcut.bn.{m[4]}"),
    ]
    dropped = [
        (r"cls_head\.", "recognition head (input order fast|slow; does not fit our ROI head)"),
        (r"roi_head\.", "detection head (81 rows incl. background; does not fit our ROI head)"),
        (r"data_preprocessor\.", "input normalisation buffers (set INPUT.PIXEL_MEAN / PIXEL_STD instead)"),
    ]
    conv = _rename(state, rules, dropped, "mmaction2")
    laterals = [k for k in conv.state if re.fullmatch(r"backbone\.fast\.Tconv\d\.conv\.weight", k)]
    with_bn = {k for k in laterals if k.replace(".conv.weight", ".bn.weight") in conv.state}
    if len(laterals) != 4:
        raise ConversionError(
            f"mmaction2: {len(laterals)} slow-pathway laterals found, 4 expected (conv1_lateral, layer1..3_lateral)"
        )
    if with_bn and len(with_bn) != len(laterals):
        raise ConversionError("mmaction2: some laterals have BN and some do not; no single lateral form fits")
    if with_bn:
        conv.backbone_config["LATERAL"] = "fuse"
    else:
        conv.backbone_config["LATERAL"] = "tconv"
        for k in sorted(laterals):
            bias = k.replace(".weight", ".bias")
            conv.state[bias] = torch.zeros(conv.state[k].shape[0], dtype=conv.state[k].dtype)
            conv.table.append(("(none)", bias, "zeros: MMAction2 laterals have no bias"))
    conv.backbone_config["LATERAL_KERNEL"] = int(conv.state[sorted(laterals)[0]].shape[2])
    conv.backbone_config["STEM_POOL_PADDING"] = True
    conv.notes.append(
        "MMAction2 recognition models use res5 stride 2 without dilation and its AVA models stride 1 "
        "without dilation (RES5_STRIDE / RES5_DILATION); lateral stride = INPUT.ALPHA (its "
        "speed_ratio) is not stored in the weights."
    )
    conv.notes.append(
        "MMAction2 picks slow frames by nearest interpolation and normalises 0-255 RGB with ImageNet "
        "mean/std: set INPUT.PIXEL_MEAN / PIXEL_STD to its values."
    )
    _add_depth(conv)
    return conv


CONVERTERS: dict[str, Callable[[dict], Conversion]] = {
    "pyslowfast": convert_pyslowfast,
    "pytorchvideo": convert_pytorchvideo,
    "caffe2": convert_caffe2,
    "mmaction2": convert_mmaction2,
}


def _strip_all(state: dict[str, Any], prefix: str) -> dict[str, Any]:
    if state and all(k.startswith(prefix) for k in state):
        return {k[len(prefix) :]: v for k, v in state.items()}
    return state


def detect_format(keys) -> str | None:
    """``"pyslowfast"``, ``"pytorchvideo"``, ``"mmaction2"`` or ``None`` (ours, or unknown) from key patterns."""
    keys = list(keys)
    if any(re.match(r"(module\.|model\.)?s1\.pathway0_stem\.", k) for k in keys):
        return "pyslowfast"
    if any(re.match(r"(model\.)?blocks\.\d+\.multipathway_blocks\.", k) for k in keys):
        return "pytorchvideo"
    if any(re.match(r"(module\.)?backbone\.(slow|fast)_path\.", k) for k in keys):
        return "mmaction2"
    return None


def extract_state_dict(data: Any) -> dict[str, Any]:
    """The state dict inside a loaded checkpoint: ``model`` (ours, AlphAction), ``model_state`` (PySlowFast,
    pytorchvideo), ``state_dict`` (MMAction2), or the dict itself when it holds tensors."""
    if isinstance(data, dict):
        for key in ("model", "model_state", "state_dict"):
            if isinstance(data.get(key), dict):
                return data[key]
        if data and all(isinstance(v, torch.Tensor) for v in data.values()):
            return data
    raise ValueError("no state dict found (looked for 'model', 'model_state', 'state_dict' or a dict of tensors)")


# --- Caffe2 .pkl: numpy arrays only -----------------------------------------------------------------------------
_NUMPY_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("collections", "OrderedDict"),
    ("_codecs", "encode"),  # protocol-2 pickles rebuild bytes with it (a pure function, as torch also allows)
}


class _NumpyOnlyUnpickler(pickle.Unpickler):
    """Unpickles dicts, lists, numbers, strings and numpy arrays; refuses every other global (no code runs)."""

    def find_class(self, module: str, name: str):
        if (module, name) not in _NUMPY_GLOBALS:
            raise pickle.UnpicklingError(
                f"refusing to load global {module}.{name}: a Caffe2 checkpoint holds only numpy arrays, and any "
                "other object in a pickle can run code"
            )
        import importlib

        if module.startswith("numpy.core"):  # NumPy 2 moved numpy.core to numpy._core
            module = "numpy._core" + module[len("numpy.core") :]
        return getattr(importlib.import_module(module), name)


def load_caffe2_pkl(path: str) -> dict[str, Any]:
    """The ``blobs`` dict of a PySlowFast / Detectron Caffe2 ``.pkl`` (Python 2 pickles: latin-1 strings),
    read with an unpickler that only builds numpy arrays. Raises ``pickle.UnpicklingError`` otherwise."""
    with open(path, "rb") as f:
        data = _NumpyOnlyUnpickler(io.BytesIO(f.read()), encoding="latin1").load()
    blobs = data.get("blobs", data) if isinstance(data, dict) else None
    if not isinstance(blobs, dict):
        raise pickle.UnpicklingError(f"{path}: expected a dict of blobs, got {type(data).__name__}")
    return blobs


# res5 (spatial stride, dilation) of each source's models in each form. Recognition models: stride 2, no dilation
# (feature stride 32). Detection (AVA) models: PySlowFast / pytorchvideo (create_slowfast_with_roi_head), and so our
# own and AlphAction's, stride 1 with dilation 2; MMAction2's AVA models stride 1 without dilation.
FORMS = ("detection", "recognition")
_RES5 = {"recognition": (2, 1), "detection": (1, 2)}
_RES5_MMACTION2_DETECTION = (1, 1)


def model_overrides(conv: Conversion, source: str, alpha: int, form: str = "detection") -> list[tuple[str, Any]]:
    """Every config key the converted weights need to give the source model's backbone features, as
    ``[(full key, value), ...]``: depth, lateral form and kernel, stem pool padding, no non-local blocks, res5
    stride / dilation and the matching ``POOLER_SCALE`` for ``form``, and ``INPUT.ALPHA`` (the lateral stride,
    which the weights do not store: 4 for 8x8 models, 8 for 4x16)."""
    if form not in FORMS:
        raise ValueError(f"form {form!r}: use one of {FORMS}")
    if alpha < 1:
        raise ValueError(f"alpha must be >= 1, got {alpha}")
    out: list[tuple[str, Any]] = []
    for key, value in conv.backbone_config.items():
        out.append((f"MODEL.BACKBONE.{key}" if key == "CONV_BODY" else f"MODEL.BACKBONE.SLOWFAST.{key}", value))
    for path in ("SLOW", "FAST"):  # our defaults (AlphAction's) build non-local blocks in the slow pathway
        for stage in ("CONV3_NONLOCAL", "CONV4_NONLOCAL"):
            out.append((f"MODEL.BACKBONE.SLOWFAST.{path}.{stage}", False))
    stride, dilation = _RES5_MMACTION2_DETECTION if (source == "mmaction2" and form == "detection") else _RES5[form]
    out += [
        ("MODEL.BACKBONE.SLOWFAST.RES5_STRIDE", stride),
        ("MODEL.BACKBONE.SLOWFAST.RES5_DILATION", dilation),
        ("MODEL.ROI_ACTION_HEAD.POOLER_SCALE", 1.0 / (16 * stride)),
        ("INPUT.ALPHA", int(alpha)),
    ]
    return out


def format_table(conv: Conversion, source: str, overrides: list[tuple[str, Any]] | None = None) -> str:
    """The mapping as aligned text lines, then the config the weights need (``overrides`` when given, else the
    backbone keys read off the weights) and the notes."""
    width = max((len(s) for s, _, _ in conv.table), default=10)
    lines = [f"{'source (' + source + ')':<{width}}  ->  ours"]
    for src, dst, note in conv.table:
        lines.append(f"{src:<{width}}  ->  {dst}" + (f"   [{note}]" if note else ""))
    lines.append(
        f"{sum(d != '-' for _, d, _ in conv.table)} tensors mapped, {sum(d == '-' for _, d, _ in conv.table)} dropped"
    )
    if overrides:
        lines.append("Build the model with: " + " ".join(f"{k} {v}" for k, v in overrides))
    elif conv.backbone_config:
        lines.append("The weights need: " + " ".join(config_overrides(conv.backbone_config)))
    lines.extend(f"Note: {n}" for n in conv.notes)
    return "\n".join(lines)


def config_overrides(backbone_config: dict[str, Any]) -> list[str]:
    """``["MODEL.BACKBONE.SLOWFAST.LATERAL", "fuse", ...]`` for the command line."""
    out: list[str] = []
    for k, v in backbone_config.items():
        out += [f"MODEL.BACKBONE.{k}" if k == "CONV_BODY" else f"MODEL.BACKBONE.SLOWFAST.{k}", str(v)]
    return out
