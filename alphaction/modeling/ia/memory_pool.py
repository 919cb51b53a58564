"""The memory pool of the IA model: person features of every (video, second), as a bounded tensor store.

The trainer stores each step's detached person features (and optionally the step's loss as a tag for
AlphAction's loss-ratio penalty), the model reads the features of the neighbouring seconds of a clip's video as
a :class:`~alphaction.modeling.ia.ClipMemory`. The pool lives on the CPU (optionally in float16), is merged
across ranks with :meth:`MemoryPool.sync` and is saved in its own file beside the checkpoints
(:meth:`MemoryPool.save` / :meth:`MemoryPool.load`, plain tensors and lists only, loadable with
``torch.load(weights_only=True)``).
"""

from __future__ import annotations

import math
from collections import OrderedDict
from typing import Any, Iterable, Sequence

import torch
from torch import Tensor

from ...utils import comm
from ...utils.io import atomic_torch_save
from .inputs import ClipMemory, memory_slot

__all__ = ["MEMORY_FILE", "MemoryPool", "loss_penalty"]

MEMORY_FILE = "memory_pool.pth"  # the pool's file name beside the checkpoints of OUTPUT_DIR
_STATE_VERSION = 1

Key = tuple[str, int]


def loss_penalty(tag: float, current_loss: float) -> float:
    """AlphAction's memory penalty: ``min(tag / current, current / tag)`` (1 when both are equal, 0 when only
    one of them is zero), so features stored at a very different loss weigh less."""
    tag, current_loss = float(tag), float(current_loss)
    if tag == current_loss:
        return 1.0
    if tag <= 0 or current_loss <= 0:
        return 0.0
    return min(tag / current_loss, current_loss / tag)


def _key(video_id: Any, timestamp: Any) -> Key:
    if isinstance(timestamp, Tensor):
        timestamp = timestamp.item()
    if float(timestamp) != int(timestamp):
        raise ValueError(f"MemoryPool: timestamps are whole seconds, got {timestamp!r}")
    return str(video_id), int(timestamp)


class MemoryPool:
    """Person features keyed by ``(video_id, timestamp)``: per key a ``[n, D]`` CPU tensor and an optional
    scalar tag.

    Args:
        max_entries: at most this many keys; an update beyond it evicts the least recently updated keys
            (None: unbounded).
        half: store the features in float16 (read back as float32).
        dim: the feature width ``D``; None takes it from the first update. Every update must match it.
    """

    def __init__(self, max_entries: int | None = None, half: bool = False, dim: int | None = None) -> None:
        if max_entries is not None and max_entries < 1:
            raise ValueError(f"MemoryPool: max_entries must be >= 1 or None, got {max_entries}")
        self.max_entries = None if max_entries is None else int(max_entries)
        self.half = bool(half)
        self.dim = None if dim is None else int(dim)
        # oldest update first; value = (features [n, D] on the CPU in the storage dtype, tag or None)
        self._entries: OrderedDict[Key, tuple[Tensor, float | None]] = OrderedDict()
        self._dirty: set[Key] = set()  # keys updated since the last sync

    # ------------------------------------------------------------------ store
    @property
    def dtype(self) -> torch.dtype:
        return torch.float16 if self.half else torch.float32

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, key: object) -> bool:
        if not isinstance(key, tuple) or len(key) != 2:
            return False
        return _key(*key) in self._entries

    def keys(self) -> list[Key]:
        """All keys, least recently updated first (the eviction order)."""
        return list(self._entries)

    def get(self, video_id: Any, timestamp: Any) -> tuple[Tensor, float | None] | None:
        """The stored ``([n, D] float32 CPU features, tag)`` of one second, or None."""
        entry = self._entries.get(_key(video_id, timestamp))
        if entry is None:
            return None
        return entry[0].float(), entry[1]

    def clear(self) -> None:
        self._entries.clear()
        self._dirty.clear()

    def update(
        self,
        video_ids: Sequence[Any],
        timestamps: Sequence[Any] | Tensor,
        features_per_clip: Sequence[Tensor],
        tags: Sequence[float | None] | Tensor | float | None = None,
    ) -> None:
        """Replace the entries of these clips with their (detached) ``[n_i, D]`` person features.

        ``tags``: one scalar (or None) per clip (e.g. the step's loss for the penalty), one scalar for all, or None.
        """
        if isinstance(timestamps, Tensor):
            timestamps = timestamps.reshape(-1).tolist()
        if not (len(video_ids) == len(timestamps) == len(features_per_clip)):
            raise ValueError(
                f"MemoryPool.update: {len(video_ids)} video ids, {len(timestamps)} timestamps and "
                f"{len(features_per_clip)} feature tensors"
            )
        if tags is None:
            tag_list: list[float | None] = [None] * len(video_ids)
        elif isinstance(tags, (int, float)) or (isinstance(tags, Tensor) and tags.dim() == 0):
            tag_list = [float(tags)] * len(video_ids)
        else:
            tag_list = [
                None if t is None else float(t)
                for t in (tags.reshape(-1).tolist() if isinstance(tags, Tensor) else tags)
            ]
            if len(tag_list) != len(video_ids):
                raise ValueError(f"MemoryPool.update: {len(tag_list)} tags for {len(video_ids)} clips")
        for video_id, timestamp, feats, tag in zip(video_ids, timestamps, features_per_clip, tag_list):
            self._put(_key(video_id, timestamp), feats, tag)
        self._evict()

    def _put(self, key: Key, feats: Tensor, tag: float | None) -> None:
        feats = torch.as_tensor(feats).detach()
        if feats.dim() != 2:
            raise ValueError(f"MemoryPool: features of {key} must be [n, D], got {tuple(feats.shape)}")
        if self.dim is None:
            self.dim = int(feats.shape[1])
        elif feats.shape[1] != self.dim:
            raise ValueError(f"MemoryPool: features of {key} have width {feats.shape[1]}, the pool {self.dim}")
        # clone: never keep a view into (or share memory with) the caller's tensor
        stored = feats.to(device="cpu", dtype=self.dtype, copy=True).contiguous()
        self._entries.pop(key, None)  # re-insert at the end: most recently updated
        self._entries[key] = (stored, None if tag is None or math.isnan(tag) else float(tag))
        self._dirty.add(key)

    def _evict(self) -> None:
        if self.max_entries is None:
            return
        while len(self._entries) > self.max_entries:
            key, _ = self._entries.popitem(last=False)
            self._dirty.discard(key)

    # ------------------------------------------------------------------ fetch
    def window(
        self,
        video_id: Any,
        timestamp: Any,
        length: tuple[int, int] = (30, 30),
        rate: int = 1,
        max_per_sec: int = 5,
        exclude_current: bool = True,
        online: bool = False,
        generator: torch.Generator | None = None,
        current_loss: float | None = None,
        device: torch.device | str | None = None,
    ) -> ClipMemory:
        """The remembered features around second ``timestamp`` of ``video_id``.

        Gathers the seconds ``t + k * rate`` for ``k = -length[0] .. length[1]`` (``k <= 0`` only when
        ``online``, for streaming video; ``k != 0`` when ``exclude_current``) into slots ``length[0] + k``
        (:func:`memory_slot`), at most ``max_per_sec`` rows per second: a random subset drawn with
        ``generator`` when one is given (training), else the first rows. Missing seconds are skipped.
        ``current_loss``: apply AlphAction's loss-ratio penalty (:func:`loss_penalty`) to tagged seconds.

        Returns:
            a :class:`ClipMemory` with float32 features ``[L, D]`` and long slots ``[L]`` on ``device``, slot
            ascending.
        """
        before, after = int(length[0]), int(length[1])
        if rate < 1 or before < 0 or after < 0 or max_per_sec < 0:
            raise ValueError(f"MemoryPool.window: bad length {length}, rate {rate} or max_per_sec {max_per_sec}")
        video, t = _key(video_id, timestamp)
        last = 0 if online else after
        feats, slots = [], []
        for k in range(-before, last + 1):
            if k == 0 and exclude_current:
                continue
            entry = self._entries.get((video, t + k * rate))
            if entry is None:
                continue
            stored, tag = entry
            count = stored.shape[0]
            if count > max_per_sec:
                if generator is not None:
                    keep = torch.randperm(count, generator=generator)[:max_per_sec].sort().values
                    rows = stored[keep]
                else:
                    rows = stored[:max_per_sec]
            else:
                rows = stored
            rows = rows.float()
            if current_loss is not None and tag is not None:
                rows = rows * loss_penalty(tag, current_loss)
            feats.append(rows)
            slots.append(torch.full((rows.shape[0],), memory_slot(k * rate, before, rate), dtype=torch.long))
        if not feats:
            return ClipMemory.empty(self.dim or 0, device=device)
        return ClipMemory(torch.cat(feats).to(device), torch.cat(slots).to(device))

    def windows(self, video_ids: Sequence[Any], timestamps: Sequence[Any] | Tensor, **kwargs: Any) -> list[ClipMemory]:
        """:meth:`window` of every clip of a batch (same keyword arguments)."""
        if isinstance(timestamps, Tensor):
            timestamps = timestamps.reshape(-1).tolist()
        return [self.window(v, t, **kwargs) for v, t in zip(video_ids, timestamps)]

    # ------------------------------------------------------------------ state
    def _state_of(self, keys: Iterable[Key]) -> dict:
        keys = list(keys)
        entries = [self._entries[k] for k in keys]
        dim = self.dim if self.dim is not None else 0
        return {
            "version": _STATE_VERSION,
            "dim": -1 if self.dim is None else int(self.dim),
            "half": self.half,
            "video_ids": [k[0] for k in keys],
            "timestamps": torch.tensor([k[1] for k in keys], dtype=torch.long),
            "counts": torch.tensor([e[0].shape[0] for e in entries], dtype=torch.long),
            "features": torch.cat([e[0] for e in entries]) if entries else torch.zeros(0, dim, dtype=self.dtype),
            "tags": torch.tensor([math.nan if e[1] is None else e[1] for e in entries], dtype=torch.float64),
        }

    def state_dict(self) -> dict:
        """Plain tensors / lists / ints (``torch.load(weights_only=True)`` reads it back), keys in eviction order."""
        return self._state_of(self._entries)

    def _apply_state(self, state: dict) -> None:
        if state.get("version") != _STATE_VERSION:
            raise ValueError(f"MemoryPool: unknown state version {state.get('version')!r}")
        dim = int(state["dim"])
        if dim >= 0 and self.dim is not None and dim != self.dim and len(state["video_ids"]):
            raise ValueError(f"MemoryPool: stored features have width {dim}, the pool {self.dim}")
        counts = state["counts"].tolist()
        feats = torch.split(state["features"], counts) if counts else []
        for video, t, f, tag in zip(state["video_ids"], state["timestamps"].tolist(), feats, state["tags"].tolist()):
            self._put((str(video), int(t)), f, tag)
        if self.dim is None and dim >= 0:
            self.dim = dim

    def load_state_dict(self, state: dict) -> None:
        """Replace the pool's entries by those of ``state`` (stored in this pool's dtype; this pool's
        ``max_entries`` applies)."""
        self.clear()
        self._apply_state(state)
        self._evict()
        self._dirty.clear()

    def save(self, path: str, extra: dict | None = None) -> str:
        """Write :meth:`state_dict` (and ``extra``: plain values only, e.g. the iteration) to ``path`` atomically
        (a complete file or the previous one)."""
        state = self.state_dict()
        if extra:
            state["extra"] = dict(extra)
        atomic_torch_save(state, path)
        return path

    def load(self, path: str) -> dict:
        """Load a file written by :meth:`save` (``weights_only``: no code runs while reading it); returns its
        ``extra`` dict (empty when none was saved)."""
        state = torch.load(path, map_location="cpu", weights_only=True)
        self.load_state_dict(state)
        return dict(state.get("extra") or {})

    # ------------------------------------------------------------------ ranks
    def sync(self, full: bool = False) -> None:
        """Merge the entries of all ranks (a collective: call it on every rank; a no-op in one process).

        Every rank sends the entries it updated since the last sync (all of them when ``full``); every rank
        then applies all ranks' entries in rank order, so a key updated on several ranks ends up with the
        highest rank's features everywhere and the pools stay identical.
        """
        if comm.get_world_size() == 1:
            self._dirty.clear()
            return
        keys = list(self._entries) if full else [k for k in self._entries if k in self._dirty]
        gathered = comm.all_gather_object(self._state_of(keys))
        for state in gathered:
            self._apply_state(state)
        self._evict()
        self._dirty.clear()

    def __repr__(self) -> str:
        return f"MemoryPool(entries={len(self)}, max_entries={self.max_entries}, dim={self.dim}, half={self.half})"
