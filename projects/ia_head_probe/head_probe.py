"""Train and test the ROI action head (with its IA structure) alone, on stored features of a frozen backbone.

A full IA training run of the CPU-sized model takes 15 to 20 minutes, most of it in the backbone. With the
backbone frozen, the pooled person and object features of every keyframe are computed once (stage 1 of two-stage
inference, on the ground-truth boxes, test transforms) and the head trains on them in about a minute: enough to
compare IA settings, to see whether the memory blocks use the memory, and to measure what the features hold
before paying for a full run. ``projects/ia_head_probe/probe_ia_head.py`` is the command line.

What it measures besides per-group AP (boxes are the ground truth, so AP is box-level):

- :func:`identity_retrieval`: does the nearest person (cosine of centred features) ``d`` seconds earlier in the
  same video have the same ``person_id``? The memory blocks can only find a person's own past through this.
- :func:`memory_attention`: how much attention each memory block puts on the query person's own entries of the
  past seconds, for the boxes of a class (e.g. ``rest``), against what uniform attention over the valid entries
  would put there.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass
from typing import Iterable, Mapping, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor
from tqdm import tqdm

from alphaction.engine.ia_memory import MemorySettings
from alphaction.engine.trainer import batch_to_device
from alphaction.evaluation.ava import AvaColumns, frame_map
from alphaction.modeling.ia import ClipMemory
from alphaction.modeling.ia.inputs import memory_grid
from alphaction.modeling.ia.memory_pool import MemoryPool
from alphaction.modeling.roi_heads import PooledFeatures, ROIActionHead
from alphaction.structures.boxes import normalize_boxes

logger = logging.getLogger(__name__)

__all__ = ["FeatureSet", "evaluate_head", "extract_feature_set", "identity_retrieval", "memory_attention", "train_head"]


@dataclass
class FeatureSet:
    """Stage-1 features of the labelled keyframes of one dataset, clip by clip.

    Attributes:
        video_ids, timestamps: the keyframe of every clip.
        persons: per clip ``[N_i, D]`` pooled person features (float32, CPU).
        objects: per clip ``[M_i, D]`` pooled object features, or None (the model has no object blocks).
        labels: per clip ``[N_i, C]`` multi-hot float labels.
        person_ids: per clip ``[N_i]`` int64 person ids (-1 where the annotation has none).
        boxes: per clip ``[N_i, 4]`` float64 boxes, normalized ``x1, y1, x2, y2``.
    """

    video_ids: list[str]
    timestamps: list[int]
    persons: list[Tensor]
    objects: list[Tensor] | None
    labels: list[Tensor]
    person_ids: list[np.ndarray]
    boxes: list[np.ndarray]

    def __len__(self) -> int:
        return len(self.video_ids)

    def pooled(self, clips: Sequence[int]) -> PooledFeatures:
        return PooledFeatures(
            [self.persons[i] for i in clips], None if self.objects is None else [self.objects[i] for i in clips]
        )

    def memory_pool(self, settings: MemorySettings) -> MemoryPool:
        """A pool holding every clip's person features (what stage 1 of two-stage inference stores)."""
        pool = settings.new_pool()
        pool.update(self.video_ids, self.timestamps, self.persons)
        return pool

    def id_pool(self) -> MemoryPool:
        """A pool of the same keys holding each person's id as a one-wide feature (row order as
        :meth:`memory_pool`), so that memory windows of ids line up with windows of features."""
        pool = MemoryPool(dim=1)
        pool.update(
            self.video_ids, self.timestamps, [torch.from_numpy(p.astype(np.float32))[:, None] for p in self.person_ids]
        )
        return pool

    def with_identity_signal(self, strength: float, dims: int = 16, seed: int = 0) -> "FeatureSet":
        """A copy whose person features also tell who is who, as an appearance-rich backbone's would (clothes,
        build): every (video, person id) gets a fixed random code in one random ``dims``-dimensional subspace of
        the feature space, added to all its rows with a norm of ``strength`` x the mean person-feature norm (rows
        with id -1 are left as they are). A diagnostic: does the IA head use the memory once the features
        identify the persons?"""
        scale = float(strength) * float(torch.cat(self.persons).norm(dim=1).mean())
        keys = sorted({(v, int(p)) for v, ids in zip(self.video_ids, self.person_ids) for p in ids if p >= 0})
        generator = torch.Generator().manual_seed(seed)
        dim = self.persons[0].shape[1] if self.persons else 0
        basis = torch.linalg.qr(torch.randn(dim, min(dims, dim), generator=generator))[0]  # [D, dims] orthonormal
        codes = torch.nn.functional.normalize(torch.randn(len(keys), basis.shape[1], generator=generator), dim=1)
        directions = dict(zip(keys, codes @ basis.T * scale))
        persons = []
        for v, feats, ids in zip(self.video_ids, self.persons, self.person_ids):
            signal = (
                torch.stack([directions[(v, int(p))] if p >= 0 else feats.new_zeros(dim) for p in ids])
                if len(ids)
                else feats.new_zeros(0, dim)
            )
            persons.append(feats + signal)
        return FeatureSet(
            list(self.video_ids), list(self.timestamps), persons, self.objects, self.labels, self.person_ids, self.boxes
        )

    def state_dict(self) -> dict:
        return {
            "video_ids": list(self.video_ids),
            "timestamps": list(self.timestamps),
            "persons": self.persons,
            "objects": self.objects,
            "labels": self.labels,
            "person_ids": [torch.from_numpy(p) for p in self.person_ids],
            "boxes": [torch.from_numpy(b) for b in self.boxes],
        }

    @classmethod
    def from_state_dict(cls, state: Mapping) -> "FeatureSet":
        return cls(
            list(state["video_ids"]),
            [int(t) for t in state["timestamps"]],
            list(state["persons"]),
            None if state["objects"] is None else list(state["objects"]),
            list(state["labels"]),
            [p.numpy() for p in state["person_ids"]],
            [b.numpy() for b in state["boxes"]],
        )


@torch.no_grad()
def extract_feature_set(model, data_loader, device: torch.device, desc: str = "features") -> FeatureSet:
    """Stage-1 features of every clip of ``data_loader`` (a labelled dataset with deterministic transforms whose
    dataset has ``person_ids(index)``, e.g. :class:`~alphaction.data.datasets.AVAVideoDataset` with ground-truth
    boxes). Clips come out in loader order."""
    model.eval()
    dataset = data_loader.dataset
    out = FeatureSet([], [], [], [], [], [], [])
    for batch in tqdm(data_loader, desc=desc, dynamic_ncols=True):
        if batch.get("empty"):
            continue
        batch = batch_to_device(batch, device)
        pooled = model.extract_features(
            batch["slow"], batch["fast"], batch["boxes"], batch["image_sizes"], objects=batch.get("objects")
        ).to("cpu", torch.float32)
        for k, index in enumerate(batch["indices"]):
            h, w = batch["image_sizes"][k]
            out.video_ids.append(str(batch["video_ids"][k]))
            out.timestamps.append(int(batch["timestamps"][k]))
            out.persons.append(pooled.persons[k])
            if pooled.objects is not None:
                out.objects.append(pooled.objects[k])
            out.labels.append(batch["labels"][k].float().cpu())
            out.person_ids.append(np.asarray(dataset.person_ids(int(index)), dtype=np.int64))
            out.boxes.append(normalize_boxes(batch["boxes"][k].float().cpu(), h, w).clamp(0, 1).double().numpy())
    if not out.objects:
        out.objects = None
    return out


def _memory(
    pool: MemoryPool | None,
    features: FeatureSet,
    clips: Sequence[int],
    settings: MemorySettings | None,
    mode: str,
    generator: torch.Generator | None = None,
) -> list[ClipMemory] | None:
    if pool is None or settings is None:
        return None
    if mode == "none":
        return [ClipMemory.empty(settings.dim) for _ in clips]
    return pool.windows(
        [features.video_ids[i] for i in clips],
        [features.timestamps[i] for i in clips],
        generator=generator,
        **settings.window_kwargs(online=mode == "online"),
    )


def train_head(
    head: ROIActionHead,
    features: FeatureSet,
    steps: int,
    clips_per_step: int,
    lr: float,
    weight_decay: float,
    memory: MemorySettings | None = None,
    seed: int = 0,
    log_period: int = 200,
) -> list[float]:
    """AdamW on the head's parameters over random mini-batches of stored clips (memory: the stored persons of
    the neighbouring seconds, a random subset of a crowded second, as in training). Returns the loss of every
    step."""
    head.train()
    optimizer = torch.optim.AdamW([p for p in head.parameters() if p.requires_grad], lr=lr, weight_decay=weight_decay)
    pool = features.memory_pool(memory) if memory is not None else None
    generator = torch.Generator().manual_seed(seed)
    losses = []
    for step in tqdm(range(steps), desc="head", dynamic_ncols=True):
        clips = torch.randint(len(features), (clips_per_step,), generator=generator).tolist()
        mem = _memory(pool, features, clips, memory, "offline", generator)
        logits = head.predictor(head.feature_extractor.forward_pooled(features.pooled(clips), mem))
        loss = sum(head.loss(logits, torch.cat([features.labels[i] for i in clips])).values())
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
        if log_period and (step + 1) % log_period == 0:
            logger.info(
                "head step %d/%d: loss %.4f (mean of the last %d: %.4f)",
                step + 1,
                steps,
                losses[-1],
                log_period,
                float(np.mean(losses[-log_period:])),
            )
    return losses


@torch.no_grad()
def evaluate_head(
    head: ROIActionHead,
    features: FeatureSet,
    eval_file_paths: Mapping[str, str],
    memory: MemorySettings | None = None,
    mode: str = "offline",
    class_groups: Mapping[str, Iterable[int]] | None = None,
    clips_per_batch: int = 32,
) -> dict:
    """Frame-mAP@0.5 of the head on the stored clips, the ground-truth boxes as detections (so box-level AP);
    ``mode``: ``offline`` / ``online`` / ``none`` memory. Returns :func:`frame_map`'s dict."""
    head.eval()
    pool = features.memory_pool(memory) if memory is not None else None
    videos: dict[str, int] = {}
    rows = defaultdict(list)
    for start in range(0, len(features), clips_per_batch):
        clips = list(range(start, min(start + clips_per_batch, len(features))))
        probs = head.predict_from_features(features.pooled(clips), _memory(pool, features, clips, memory, mode))
        for i, p in zip(clips, probs):
            n, c = p.shape
            rows["video_index"].append(np.full(n * c, videos.setdefault(features.video_ids[i], len(videos))))
            rows["timestamps"].append(np.full(n * c, features.timestamps[i]))
            rows["boxes"].append(np.repeat(features.boxes[i], c, axis=0))
            rows["action_ids"].append(np.tile(np.arange(1, c + 1), n))
            rows["scores"].append(p.double().reshape(-1).numpy())
    detections = AvaColumns(
        list(videos), *(np.concatenate(rows[k]) for k in ("video_index", "timestamps", "boxes", "action_ids", "scores"))
    )
    return frame_map(
        eval_file_paths["csv_gt_file"],
        detections,
        eval_file_paths["labelmap_file"],
        eval_file_paths.get("exclusion_file") or None,
        class_groups=class_groups,
    )


def identity_retrieval(features: FeatureSet, offsets: Iterable[int] = (1, 2, 3, 4)) -> dict[int, dict]:
    """For every person at second ``t`` and every offset ``d``: among the persons of ``t - d`` in the same video
    (at least two, the same person among them), is the one nearest by cosine similarity of centred features
    the same person? Returns ``{d: {"queries", "top1", "chance"}}`` (``chance``: mean ``1 / candidates``)."""
    rows = torch.cat(features.persons)
    centre = rows.mean(dim=0)
    normed = [F.normalize(p - centre, dim=1) for p in features.persons]
    where = {(v, t): i for i, (v, t) in enumerate(zip(features.video_ids, features.timestamps))}
    out = {}
    for d in offsets:
        hits, chance, count = 0, 0.0, 0
        for i, (v, t) in enumerate(zip(features.video_ids, features.timestamps)):
            j = where.get((v, t - d))
            if j is None or len(features.person_ids[j]) < 2:
                continue
            similarity = normed[i] @ normed[j].T  # [N_i, N_j]
            for a, pid in enumerate(features.person_ids[i]):
                match = np.flatnonzero(features.person_ids[j] == pid)
                if pid < 0 or len(match) != 1:
                    continue
                hits += int(similarity[a].argmax().item() == match[0])
                chance += 1.0 / len(features.person_ids[j])
                count += 1
        out[d] = {"queries": count, "top1": hits / max(count, 1), "chance": chance / max(count, 1)}
    return out


@torch.no_grad()
def memory_attention(
    head: ROIActionHead,
    features: FeatureSet,
    settings: MemorySettings,
    class_index: int,
    past: Sequence[int] = (2, 3, 4),
    clips_per_batch: int = 32,
) -> dict[str, dict]:
    """Attention of every memory block on the query person's own entries ``past`` seconds earlier, for the boxes
    labelled ``class_index`` (0-based), against uniform attention over the valid entries.

    Returns ``{block name: {"boxes", "own_past", "uniform_own_past"}}`` (mean attention mass per box)."""
    head.eval()
    ia = head.feature_extractor.ia_structure
    blocks = {name: m for name, m in ia.named_children() if name.startswith("M_block")}
    if not blocks:
        raise ValueError("memory_attention: the IA structure has no memory (M) blocks")
    captured: dict[str, tuple] = {}
    hooks = [
        m.register_forward_pre_hook(lambda mod, args, name=name: captured.__setitem__(name, args))
        for name, m in blocks.items()
    ]
    pool, ids = features.memory_pool(settings), features.id_pool()
    current_slot = settings.length[0]
    own_slots = {current_slot - d // settings.rate for d in past if d % settings.rate == 0}
    sums = {name: [0, 0.0, 0.0] for name in blocks}
    try:
        for start in range(0, len(features), clips_per_batch):
            clips = list(range(start, min(start + clips_per_batch, len(features))))
            head.predict_from_features(features.pooled(clips), _memory(pool, features, clips, settings, "offline"))
            id_memory = _memory(ids, features, clips, settings, "offline")
            current_ids = [torch.from_numpy(features.person_ids[i].astype(np.float32))[:, None] for i in clips]
            num_slots = settings.length[0] + settings.length[1] + 1
            id_grid, mask = memory_grid(
                id_memory,
                current_ids,
                num_slots,
                current_slot,
                settings.max_per_sec,
                1,
                random=False,
                like=torch.zeros(0),
            )
            slot_of = torch.arange(id_grid.shape[1]) // settings.max_per_sec
            in_past = torch.tensor([int(s) in own_slots for s in slot_of])
            for name, block in blocks.items():
                query, others, block_mask, layout = captured[name]
                weights = block.attention_weights(
                    query, others, block_mask if ia.settings.mask_padding else None, layout
                )  # [K, S]
                for row, (clip_pos, a) in enumerate(zip(layout.clip_index.tolist(), layout.position.tolist())):
                    i = clips[clip_pos]
                    if features.labels[i][a, class_index] < 0.5:
                        continue
                    own = (id_grid[clip_pos, :, 0] == float(features.person_ids[i][a])) & mask[clip_pos] & in_past
                    valid = mask[clip_pos]
                    sums[name][0] += 1
                    sums[name][1] += float(weights[row][own].sum())
                    sums[name][2] += float(own.sum()) / max(int(valid.sum()), 1)
    finally:
        for h in hooks:
            h.remove()
    return {
        name: {"boxes": n, "own_past": s / max(n, 1), "uniform_own_past": u / max(n, 1)}
        for name, (n, s, u) in sums.items()
    }
