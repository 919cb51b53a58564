"""What the IA structure attends over, laid out per clip with padding masks.

Every key set is a fixed-size, zero-padded ``[B, S, D]`` tensor per batch with a ``[B, S]`` bool mask (True =
real entry). Fixed sizes (``MAX_PERSON``, ``MAX_OBJECT``, ``num_slots x MAX_PER_SEC``) keep AlphAction's
unmasked behaviour reproducible: with the mask off, the zero-padded slots take part in the softmax as they did
there.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor


@dataclass
class ClipMemory:
    """Remembered person features of one clip's video at other seconds (the memory pool's answer).

    Attributes:
        features: ``[L, D]`` pooled person features (``D`` = ``MODEL.IA_STRUCTURE.DIM_IN``), any dtype (cast
            to the model's); any training-time penalty scaling is already applied by whoever fetched them.
        slots: ``[L]`` integer time slot of each row, ``0 .. LENGTH[0] + LENGTH[1]``: slot ``s`` holds the
            second ``t + (s - LENGTH[0]) * MEMORY_RATE`` of a clip at second ``t`` (see :func:`memory_slot`).
            Slot ``LENGTH[0]`` is the clip's own second: rows given there are ignored, the model always puts
            the clip's own (detached) person features there, as AlphAction.
    """

    features: Tensor
    slots: Tensor

    @classmethod
    def empty(cls, dim: int, device: torch.device | str | None = None) -> "ClipMemory":
        return cls(torch.zeros(0, dim, device=device), torch.zeros(0, dtype=torch.long, device=device))


def memory_slot(offset_seconds: int, length_before: int, rate: int = 1) -> int:
    """Slot index of a memory second ``offset_seconds`` away from the clip (negative = before)."""
    if offset_seconds % rate:
        raise ValueError(f"memory_slot: offset {offset_seconds} s is not a multiple of MEMORY_RATE {rate}")
    return length_before + offset_seconds // rate


class ClipLayout:
    """Rows ``[K, ...]`` of all clips' boxes (clip by clip) <-> padded ``[B, N_max, ...]`` per clip."""

    def __init__(self, counts: list[int], device: torch.device | str | None = None) -> None:
        self.counts = list(counts)
        self.num_clips = len(counts)
        self.max_count = max(self.counts, default=0)
        counts_t = torch.tensor(self.counts, dtype=torch.long, device=device)
        self.clip_index = torch.repeat_interleave(torch.arange(self.num_clips, device=device), counts_t)
        starts = torch.cumsum(counts_t, 0) - counts_t
        self.position = torch.arange(self.clip_index.numel(), device=device) - starts[self.clip_index]

    def to_padded(self, rows: Tensor) -> Tensor:
        padded = rows.new_zeros((self.num_clips, self.max_count) + tuple(rows.shape[1:]))
        padded[self.clip_index, self.position] = rows
        return padded

    def from_padded(self, padded: Tensor) -> Tensor:
        return padded[self.clip_index, self.position]


def _keep(count: int, limit: int, random: bool, device: torch.device) -> Tensor:
    """Indices of at most ``limit`` of ``count`` entries: a random subset, or the first ones (in order)."""
    if count <= limit:
        return torch.arange(count, device=device)
    if random:
        return torch.randperm(count, device=device)[:limit].sort().values
    return torch.arange(limit, device=device)


def person_key_index(layout: ClipLayout, max_person: int, random: bool) -> tuple[Tensor, Tensor]:
    """Which person rows are the P keys of every clip: all persons of the same clip (the query included), at
    most ``max_person`` (a random subset when ``random``, else the first ones).

    Returns:
        index ``[B, max_person]`` into the ``K`` rows (0 where padded) and mask ``[B, max_person]``.
    """
    device = layout.clip_index.device
    index = torch.zeros(layout.num_clips, max_person, dtype=torch.long, device=device)
    mask = torch.zeros(layout.num_clips, max_person, dtype=torch.bool, device=device)
    start = 0
    for clip, count in enumerate(layout.counts):
        keep = _keep(count, max_person, random, device)
        index[clip, : keep.numel()] = start + keep
        mask[clip, : keep.numel()] = True
        start += count
    return index, mask


def gather_keys(rows: Tensor, index: Tensor, mask: Tensor) -> Tensor:
    """``[K, D]`` rows -> ``[B, S, D]`` keys, zero where ``mask`` is False."""
    if rows.shape[0] == 0:
        return rows.new_zeros(tuple(index.shape) + tuple(rows.shape[1:]))
    return rows[index] * mask[..., None].to(rows.dtype)


def pad_objects(objects: list[Tensor], max_object: int, dim: int, like: Tensor) -> tuple[Tensor, Tensor]:
    """Per-clip ``[M_i, D]`` object features -> ``[B, max_object, D]`` (the first ``max_object`` of each clip:
    the datasets list objects by decreasing score) and the mask ``[B, max_object]``."""
    out = like.new_zeros(len(objects), max_object, dim)
    mask = torch.zeros(len(objects), max_object, dtype=torch.bool, device=like.device)
    for clip, feats in enumerate(objects):
        n = min(feats.shape[0], max_object)
        out[clip, :n] = feats[:n].to(like.dtype)
        mask[clip, :n] = True
    return out, mask


def memory_grid(
    memory: list[ClipMemory] | None,
    current: list[Tensor],
    num_slots: int,
    current_slot: int,
    per_slot: int,
    dim: int,
    random: bool,
    like: Tensor,
) -> tuple[Tensor, Tensor]:
    """Memory as ``num_slots`` groups of ``per_slot`` entries per clip (AlphAction's 61 x 5 layout).

    Args:
        memory: one :class:`ClipMemory` per clip, or None (no memory of other seconds).
        current: per clip ``[N_i, D]`` own person features, put (detached) in ``current_slot``.
        num_slots, current_slot, per_slot: ``LENGTH[0] + LENGTH[1] + 1``, ``LENGTH[0]``, ``MAX_PER_SEC``.
        random: keep a random subset of a crowded slot (training) instead of its first rows.
        like: a tensor giving the output dtype and device.

    Returns:
        features ``[B, num_slots * per_slot, dim]`` (slot-major, zero where empty) and mask of the same
        ``[B, num_slots * per_slot]``.
    """
    num_clips = len(current)
    if memory is not None and len(memory) != num_clips:
        raise ValueError(f"IA memory: {len(memory)} ClipMemory entries for a batch of {num_clips} clips")
    device = like.device
    out = like.new_zeros(num_clips, num_slots * per_slot, dim)
    mask = torch.zeros(num_clips, num_slots * per_slot, dtype=torch.bool, device=device)
    for clip in range(num_clips):
        own = current[clip].detach().to(like.dtype)
        feats, slots = [own], [torch.full((own.shape[0],), current_slot, dtype=torch.long, device=device)]
        if memory is not None:
            entry = memory[clip]
            entry_slots = entry.slots.to(device=device, dtype=torch.long).reshape(-1)
            if (
                entry.features.dim() != 2
                or entry.features.shape[1] != dim
                or entry.features.shape[0] != entry_slots.numel()
            ):
                raise ValueError(
                    f"IA memory of clip {clip}: expected features [L, {dim}] and slots [L], got "
                    f"{tuple(entry.features.shape)} and {tuple(entry.slots.shape)} "
                    "(MODEL.IA_STRUCTURE.DIM_IN is the memory feature width)"
                )
            if entry_slots.numel() and (entry_slots.min() < 0 or entry_slots.max() >= num_slots):
                raise ValueError(
                    f"IA memory of clip {clip}: slots must lie in [0, {num_slots}), got "
                    f"[{entry_slots.min().item()}, {entry_slots.max().item()}]"
                )
            other = entry_slots != current_slot
            feats.append(entry.features.to(device=device, dtype=like.dtype)[other])
            slots.append(entry_slots[other])
        feats_t, slots_t = torch.cat(feats), torch.cat(slots)
        if slots_t.numel() == 0:
            continue
        if random:
            perm = torch.randperm(slots_t.numel(), device=device)
            feats_t, slots_t = feats_t[perm], slots_t[perm]
        order = torch.sort(slots_t, stable=True).indices
        feats_t, slots_t = feats_t[order], slots_t[order]
        # rank of each row inside its slot; rows beyond per_slot are dropped
        first = torch.searchsorted(slots_t, slots_t, right=False)
        rank = torch.arange(slots_t.numel(), device=device) - first
        keep = rank < per_slot
        target = slots_t[keep] * per_slot + rank[keep]
        out[clip, target] = feats_t[keep]
        mask[clip, target] = True
    return out, mask
