"""AlphAction's test-time forward, written out from its source read as facts (MVIG-SJTU/AlphAction at 4ea202d:
``structures/bounding_box.py``, ``modeling/backbone/slowfast.py``, ``modeling/common_blocks.py``,
``modeling/roi_heads/action_head/{action_head,roi_action_feature_extractor,IA_structure,inference}.py``; see
``../shared/specs/alphaction_facts.md``).

It imports nothing from ``alphaction``: every step works on a plain state dict with AlphAction's key names and
AlphAction's tensor layout (per-person copies of every key set, ``[n, max_others, C]``), so it is an expectation
built independently of our model. Only the ROIAlign comes from a library (torchvision's ``roi_align`` with
``aligned=False``: Detectron's legacy ROIAlign, which AlphAction's ``ROIAlign3d`` kernel applies per frame).
Not a training reference: dropout is off and nothing is sampled at random (callers keep every key set within
its size: <= MAX_PERSON persons, <= MAX_OBJECT objects, <= MAX_PER_SEC persons per memory second).
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor
from torchvision.ops import roi_align

TO_REMOVE = 1.0  # maskrcnn-benchmark's pixel convention, everywhere in AlphAction's BoxList
BN_EPS = 1e-5  # MODEL.BACKBONE.BN_EPSILON
IA_PREFIX = "roi_heads.action.feature_extractor.ia_structure."


@dataclass
class ReferenceConfig:
    """The settings of one AlphAction config that its test-time forward reads."""

    alpha: int  # INPUT.ALPHA: temporal stride of the lateral convs
    extend_scale: tuple[float, float] = (0.1, 0.05)  # TEST.EXTEND_SCALE
    num_pose: int = 14  # NUM_PERSON_MOVEMENT_CLASSES
    ia_structure: str | None = None  # None (baseline), "serial", "dense" or "parallel"
    block_list: list = field(default_factory=list)  # I_BLOCK_LIST
    max_person: int = 25
    max_object: int = 5
    max_per_sec: int = 5
    length: tuple[int, int] = (30, 30)
    layer_norm: bool = True
    temporal_position: bool = True
    fusion: str = "add"


def random_state_dict(spec_file: Path, seed: int = 0) -> dict[str, Tensor]:
    """Random weights for the keys and shapes of an AlphAction key list (``specs/alphaction_keys_*.json``), scaled
    so activations stay O(1) through the network and every part shows in the scores: convs kaiming-normal, frozen
    BN with random statistics (weight U(0.2, 0.6), bias / mean N(0, 0.1^2), variance U(0.5, 1.5)), IA projections
    normal with std 1/sqrt(fan_in) (the out convs too: AlphAction zero-initialises them, which would hide the
    IA), biases N(0, 0.1^2), dense weights and temporal embeddings N(0, 1)."""
    gen = torch.Generator().manual_seed(seed)
    out = {}
    for key, shape, _ in json.loads(Path(spec_file).read_text()):

        def normal(std: float) -> Tensor:
            return torch.randn(shape, generator=gen) * std

        leaf = key.rsplit(".", 1)[-1]
        fan_in = math.prod(shape[1:]) if len(shape) > 1 else 1
        if ".ia_structure." in key:
            value = (
                normal(1.0)
                if ("dense_params" in key or "temporal_position" in key)
                else normal(fan_in**-0.5)
                if leaf == "weight"
                else normal(0.1)
            )
        elif leaf in ("running_mean", "running_var") or ".bn." in key or ".bn1." in key:
            value = {
                "weight": lambda: 0.2 + 0.4 * torch.rand(shape, generator=gen),
                "bias": lambda: normal(0.1),
                "running_mean": lambda: normal(0.1),
                "running_var": lambda: 0.5 + torch.rand(shape, generator=gen),
            }[leaf]()
        elif leaf == "weight":
            value = normal(math.sqrt(2.0 / fan_in) if len(shape) == 5 else fan_in**-0.5)
        else:
            value = normal(0.1)
        out[key] = value
    return out


# ------------------------------------------------------------------------------------------------------------
# boxes (BoxList with TO_REMOVE = 1)
# ------------------------------------------------------------------------------------------------------------
def extend(boxes: Tensor, scale: tuple[float, float], width: int, height: int) -> Tensor:
    """``BoxList.extend``: pad ``scale * (x2 - x1 + 1) / 2`` per side, then ``clip_to_image`` in place (clamp to
    ``[0, W - 1]`` / ``[0, H - 1]``; the filtered copy it returns is discarded, so no box is dropped)."""
    x1, y1, x2, y2 = boxes.unbind(1)
    padw = scale[0] * (x2 - x1 + TO_REMOVE) / 2
    padh = scale[1] * (y2 - y1 + TO_REMOVE) / 2
    out = torch.stack([x1 - padw, y1 - padh, x2 + padw, y2 + padh], dim=1)
    out[:, 0::2] = out[:, 0::2].clamp(0, width - TO_REMOVE)
    out[:, 1::2] = out[:, 1::2].clamp(0, height - TO_REMOVE)
    return out


# ------------------------------------------------------------------------------------------------------------
# SlowFast backbone (FrozenBatchNorm3d everywhere, lateral "tconv", res5 stride 1 dilation 2)
# ------------------------------------------------------------------------------------------------------------
def _bn(x: Tensor, sd: dict, prefix: str) -> Tensor:
    scale = sd[prefix + "weight"] / torch.sqrt(sd[prefix + "running_var"] + BN_EPS)
    shift = sd[prefix + "bias"] - sd[prefix + "running_mean"] * scale
    return x * scale.view(1, -1, 1, 1, 1) + shift.view(1, -1, 1, 1, 1)


def _conv_bn(x: Tensor, sd: dict, prefix: str, spatial_stride: int = 1, dilation: int = 1) -> Tensor:
    """``Conv3dBN``: temporal padding kt // 2 (``use_temp_conv``), spatial padding = dilation for 3x3."""
    weight = sd[prefix + "conv.weight"]
    kt, kh = weight.shape[2], weight.shape[3]
    pad_hw = dilation if kh == 3 else 0
    x = F.conv3d(
        x,
        weight,
        stride=(1, spatial_stride, spatial_stride),
        padding=(kt // 2, pad_hw, pad_hw),
        dilation=(1, dilation, dilation),
    )
    return _bn(x, sd, prefix + "bn.")


def _stage(x: Tensor, sd: dict, prefix: str, stride: int, dilation: int) -> Tensor:
    """``ResNLBlock`` without non-local blocks: ``res_0 .. res_{n-1}``, the stride on block 0's 3x3 conv."""
    count = len({m.group(1) for k in sd for m in [re.match(re.escape(prefix) + r"res_(\d+)\.", k)] if m})
    for i in range(count):
        block = f"{prefix}res_{i}."
        s = stride if i == 0 else 1
        out = F.relu(_conv_bn(x, sd, block + "btnk.conv1."))
        out = F.relu(_conv_bn(out, sd, block + "btnk.conv2.", spatial_stride=s, dilation=dilation))
        out = _conv_bn(out, sd, block + "btnk.conv3.")
        short = _conv_bn(x, sd, block + "shortcut.", spatial_stride=s) if block + "shortcut.conv.weight" in sd else x
        x = F.relu(out + short)
    return x


def _stem(x: Tensor, sd: dict, prefix: str) -> Tensor:
    weight = sd[prefix + "conv1.weight"]
    x = F.conv3d(x, weight, stride=(1, 2, 2), padding=(weight.shape[2] // 2, 3, 3))
    x = F.relu(_bn(x, sd, prefix + "bn1."))
    return F.max_pool3d(x, (1, 3, 3), stride=(1, 2, 2))  # no padding


def _lateral(x: Tensor, sd: dict, name: str, alpha: int) -> Tensor:
    return F.conv3d(
        x,
        sd[f"backbone.fast.{name}.conv.weight"],
        sd[f"backbone.fast.{name}.conv.bias"],
        stride=(alpha, 1, 1),
        padding=(2, 0, 0),
    )


def backbone(sd: dict, slow: Tensor, fast: Tensor, alpha: int) -> tuple[Tensor, Tensor]:
    """``SlowFast.forward``: the fast pathway first, its laterals (Tconv1..4, after the stem and res_nl1..3)
    concatenated after the slow features before slow res_nl1..4."""
    strides, dilations = (1, 2, 2, 1), (1, 1, 1, 2)
    f = _stem(fast, sd, "backbone.fast.")
    laterals = []
    for k in range(4):
        laterals.append(_lateral(f, sd, f"Tconv{k + 1}", alpha))
        f = _stage(f, sd, f"backbone.fast.res_nl{k + 1}.", strides[k], dilations[k])
    s = _stem(slow, sd, "backbone.slow.")
    for k in range(4):
        s = torch.cat([s, laterals[k]], dim=1)
        s = _stage(s, sd, f"backbone.slow.res_nl{k + 1}.", strides[k], dilations[k])
    return s, f


# ------------------------------------------------------------------------------------------------------------
# ROI features: temporal mean, legacy ROIAlign per (single) frame, 7x7 max pool
# ------------------------------------------------------------------------------------------------------------
def roi_pool(slow_out: Tensor, fast_out: Tensor, boxes: list[Tensor]) -> Tensor:
    """``[K, 2304]``: ``MEAN_BEFORE_POOLER`` True, ``ROIAlign3d((7, 7), 1/16, sampling_ratio 0)``, slow then fast
    channels, ``MaxPool3d((1, 7, 7))``."""
    rois = torch.cat([torch.cat([torch.full((len(b), 1), float(i)), b], dim=1) for i, b in enumerate(boxes)])
    pooled = [
        roi_align(feat.mean(dim=2), rois, (7, 7), spatial_scale=1.0 / 16, sampling_ratio=0, aligned=False)
        for feat in (slow_out, fast_out)
    ]
    return torch.cat(pooled, dim=1).amax(dim=(2, 3))


# ------------------------------------------------------------------------------------------------------------
# Interaction Aggregation, in AlphAction's per-person layout
# ------------------------------------------------------------------------------------------------------------
def _pointwise(x: Tensor, sd: dict, prefix: str) -> Tensor:
    """A 1x1x1 ``Conv3d`` on ``[..., C]`` rows."""
    return x @ sd[prefix + "weight"].flatten(1).T + sd[prefix + "bias"]


def _separate_per_person(counts: list[int], things: list[Tensor], max_things: int, dim: int) -> Tensor:
    """``separate_roi_per_person``: every person of clip ``i`` gets the clip's ``things[i]`` in a zero tensor of
    ``max_things`` slots -> ``[n_persons, max_things, dim]``."""
    rows = []
    for count, clip_things in zip(counts, things):
        tmp = torch.zeros(count, max_things, dim)
        tmp[:, : len(clip_things)] = clip_things
        rows.append(tmp)
    return torch.cat(rows)


def _interaction_block(sd: dict, name: str, person: Tensor, others: Tensor, cfg: ReferenceConfig) -> Tensor:
    """``InteractionBlock.forward`` for ``person [n, C]`` and ``others [n, max_others, C]``."""
    p = IA_PREFIX + name + "."
    query = _pointwise(person, sd, p + "query.")  # [n, C_inner]
    key = _pointwise(others, sd, p + "key.")  # [n, S, C_inner]
    value = _pointwise(others, sd, p + "value.")
    if p + "temporal_position_k" in sd:
        slots = sd[p + "temporal_position_k"].shape[0]
        n, s, c = key.shape
        key = (key.view(n, slots, s // slots, c) + sd[p + "temporal_position_k"].view(1, slots, 1, c)).view(n, s, c)
        value = (value.view(n, slots, s // slots, c) + sd[p + "temporal_position_v"].view(1, slots, 1, c)).view(n, s, c)
    logits = torch.einsum("nc,nsc->ns", query, key) * query.shape[1] ** -0.5
    out = torch.einsum("ns,nsc->nc", logits.softmax(dim=1), value)
    if cfg.layer_norm:  # nn.LayerNorm([dim_inner, 1, 1, 1], elementwise_affine=False)
        out = (out - out.mean(1, keepdim=True)) / torch.sqrt(out.var(1, unbiased=False, keepdim=True) + 1e-5)
    out = _pointwise(F.relu(out), sd, p + "out.")
    shortcut = _pointwise(person, sd, p + "shortcut.") if p + "shortcut.weight" in sd else person
    return out + shortcut


def interaction_aggregation(
    sd: dict, cfg: ReferenceConfig, person: Tensor, counts: list[int], objects: list[Tensor], memory: list[list[Tensor]]
) -> Tensor:
    """``IAStructure.forward``: reductions (``_reduce_dim``) then the structure's ``_aggregate``.

    Args:
        person: ``[n, 2304]`` pooled features of every person box, clip by clip (``counts`` per clip).
        objects: per clip ``[m_i, 2304]`` pooled object features.
        memory: per clip the ``LENGTH[0] + LENGTH[1] + 1`` memory slots (``[k, 2304]`` each, the clip's own
            persons in the middle), as ``get_memory_feature`` lists them.
    """
    dim = person.shape[1]
    query = _pointwise(person, sd, IA_PREFIX + "person_dim_reduce.")
    inner = query.shape[1]
    person_key = (
        _pointwise(person, sd, IA_PREFIX + "person_key_dim_reduce.")
        if IA_PREFIX + "person_key_dim_reduce.weight" in sd
        else None
    )
    object_key = mem_key = None
    if IA_PREFIX + "object_dim_reduce.weight" in sd:  # placed into zero slots first, then reduced
        object_key = _pointwise(
            _separate_per_person(counts, objects, cfg.max_object, dim), sd, IA_PREFIX + "object_dim_reduce."
        )
    if IA_PREFIX + "mem_dim_reduce.weight" in sd:  # pad_sequence per slot, then reduced
        grids = []
        for slots in memory:
            grid = torch.zeros(len(slots) * cfg.max_per_sec, dim)
            for s, feats in enumerate(slots):
                grid[s * cfg.max_per_sec : s * cfg.max_per_sec + len(feats)] = feats
            grids.append(grid)
        mem_key = _pointwise(_separate_per_person(counts, grids, len(grids[0]), dim), sd, IA_PREFIX + "mem_dim_reduce.")

    def split(rows: Tensor) -> list[Tensor]:
        return list(rows.split(counts))

    def run(block_type: str, name: str, q: Tensor, p_key: Tensor | None) -> Tensor:
        if block_type == "P":  # the persons' keys placed into zero slots AFTER the reduction
            others = _separate_per_person(counts, split(p_key), cfg.max_person, inner)
        else:
            others = object_key if block_type == "O" else mem_key
        return _interaction_block(sd, name, q, others, cfg)

    if cfg.ia_structure in ("serial", "dense"):
        count: dict[str, int] = {}
        history = []
        for idx, block_type in enumerate(cfg.block_list):
            count[block_type] = count.get(block_type, 0) + 1
            if cfg.ia_structure == "dense" and idx >= 2:
                weights = sd[IA_PREFIX + f"dense_params.{idx}"].flatten(1).softmax(dim=0)  # [idx, C]
                query = (torch.stack(history, dim=1) * weights).sum(dim=1)
                person_key = query
            query = run(block_type, f"{block_type}_block_{count[block_type]}", query, person_key)
            person_key = query  # after EVERY block
            history.append(query)
        return query
    # parallel: block k of a layer takes block k of the previous layer; only P blocks update the person keys
    count = {}
    last = [query] * len(cfg.block_list[0])
    for layer in cfg.block_list:
        new = []
        for position, block_type in enumerate(layer):
            count[block_type] = count.get(block_type, 0) + 1
            out = run(block_type, f"{block_type}_block_{count[block_type]}", last[position], person_key)
            if block_type == "P":
                person_key = out
            new.append(out)
        last = new
    return torch.stack(last).sum(dim=0)


# ------------------------------------------------------------------------------------------------------------
# the whole test-time forward
# ------------------------------------------------------------------------------------------------------------
def forward(
    sd: dict,
    cfg: ReferenceConfig,
    slow: Tensor,
    fast: Tensor,
    boxes: list[Tensor],
    image_sizes: list[tuple[int, int]],
    objects: list[Tensor] | None = None,
    memory: list[dict[int, Tensor]] | None = None,
) -> list[Tensor]:
    """``ActionDetector`` in eval mode (one stage, or stage 2 of AlphAction's two-stage inference with the memory
    given): per clip ``[n_i, NUM_CLASSES]`` scores.

    Args:
        slow, fast: ``[B, 3, T, H, W]`` normalised clips (zero-padded to the batch size).
        boxes: per clip ``[n_i, 4]`` person boxes on the resized frames (AlphAction's pixel convention).
        image_sizes: per clip ``(height, width)`` of the resized frames (before batch padding).
        objects: per clip ``[m_i, 4]`` object boxes, same coordinates (IA configs with O blocks).
        memory: per clip ``{slot offset in seconds (-LENGTH[0]..LENGTH[1], not 0): [k, 2304] features}``.
    """
    sd = {k.removeprefix("module."): v.float() for k, v in sd.items()}
    slow_out, fast_out = backbone(sd, slow, fast, cfg.alpha)
    proposals = [extend(b, cfg.extend_scale, w, h) for b, (h, w) in zip(boxes, image_sizes)]
    person = roi_pool(slow_out, fast_out, proposals)
    x = person
    if cfg.ia_structure is not None:
        counts = [len(b) for b in boxes]
        dim = person.shape[1]
        # objects are pooled on the same maps but not extended (max_pooling_zero_safe: no box -> [0, 2304])
        object_feats = _pool_objects(slow_out, fast_out, objects, len(boxes), dim)
        slots = []
        before, after = cfg.length
        for clip, own in enumerate(person.split(counts)):
            given = (memory or [{}] * len(boxes))[clip]
            zero = torch.zeros(0, dim)
            slots.append(
                [given.get(off, zero) for off in range(-before, 0)]
                + [own.detach()]
                + [given.get(off, zero) for off in range(1, after + 1)]
            )
        ia = interaction_aggregation(sd, cfg, person, counts, object_feats, slots)
        x = person + ia if cfg.fusion == "add" else torch.cat([person, ia], dim=1)
    p = "roi_heads.action."
    x = F.relu(x @ sd[p + "feature_extractor.fc1.weight"].T + sd[p + "feature_extractor.fc1.bias"])
    x = F.relu(x @ sd[p + "feature_extractor.fc2.weight"].T + sd[p + "feature_extractor.fc2.bias"])
    logits = x @ sd[p + "predictor.cls_score.weight"].T + sd[p + "predictor.cls_score.bias"]
    # PostProcessor: softmax over the pose group, sigmoid over the rest
    scores = torch.cat([logits[:, : cfg.num_pose].softmax(dim=1), logits[:, cfg.num_pose :].sigmoid()], dim=1)
    return list(scores.split([len(b) for b in boxes]))


def _pool_objects(
    slow_out: Tensor, fast_out: Tensor, objects: list[Tensor] | None, num_clips: int, dim: int
) -> list[Tensor]:
    objects = objects if objects is not None else [torch.zeros(0, 4)] * num_clips
    if sum(len(o) for o in objects) == 0:
        return [torch.zeros(0, dim) for _ in objects]
    return list(roi_pool(slow_out, fast_out, [o.float() for o in objects]).split([len(o) for o in objects]))
