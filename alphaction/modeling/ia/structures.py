"""Interaction Aggregation structures: serial, dense serial and parallel stacks of P / O / M blocks.

Parameter names and shapes follow AlphAction (``person_dim_reduce``, ``mem_dim_reduce``,
``person_key_dim_reduce``, ``object_dim_reduce``, ``{P,O,M}_block_{k}``, ``dense_params.{k}``), so its
released IA checkpoints load as they are. Unlike AlphAction, only the reductions a block list needs are
created (an unused parameter breaks DDP), padded key slots are masked out of the attention unless
``mask_padding=False``, and ``bias=False`` really removes the biases.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .blocks import InteractionBlock, PointwiseConv
from .inputs import ClipLayout, ClipMemory, gather_keys, memory_grid, pad_objects, person_key_index

BLOCK_TYPES = ("P", "O", "M")
STRUCTURES = ("serial", "dense", "parallel")


@dataclass(frozen=True)
class IAConfig:
    """Explicit IA settings (``build_ia_structure`` fills them from ``MODEL.IA_STRUCTURE``).

    ``layers`` is the block list as layers: one block per layer for serial / dense, the configured layers
    for parallel.
    """

    structure: str
    layers: tuple[tuple[str, ...], ...]
    dim_person: int  # width of the pooled person / object features
    dim_memory: int  # DIM_IN
    dim_inner: int
    dim_out: int
    max_person: int = 25
    max_object: int = 5
    max_per_sec: int = 5
    length: tuple[int, int] = (30, 30)
    temporal_position: bool = True
    bias: bool = True
    init_std: float = 0.01
    zero_init_out: bool = True
    layer_norm: bool = False
    dropout: float = 0.0
    mask_padding: bool = True
    memory_norm: bool = False  # non-affine LayerNorm on every row of the M key set (memory and own persons)
    qk_norm: bool = False  # non-affine LayerNorm on every projected query and key of every block

    @property
    def block_types(self) -> set[str]:
        return {t for layer in self.layers for t in layer}

    @property
    def num_slots(self) -> int:
        return self.length[0] + self.length[1] + 1


class IAStructure(nn.Module):
    """Common trunk: input reductions, key sets, and the block stack (``forward`` of the subclasses).

    ``forward(persons, objects=None, memory=None)``:
        persons: per clip ``[N_i, dim_person]`` pooled person features (the queries, and the P keys).
        objects: per clip ``[M_i, dim_person]`` pooled object features, or None (no objects).
        memory: one :class:`ClipMemory` per clip, or None (no other seconds; the current slot still holds
            the clip's own persons).
    Returns ``[sum N_i, dim_out]``.

    Key sets, as AlphAction builds them (``MASK_PADDING False`` makes the padding take part in the softmax):
    P keys are reduced first and then placed into ``MAX_PERSON`` zero slots (padded slots are zeros in
    ``dim_inner`` space); objects and memory are placed into zero slots first and then reduced (padded slots hold
    the reduce conv's bias).
    """

    def __init__(self, settings: IAConfig) -> None:
        super().__init__()
        if settings.structure not in STRUCTURES:
            raise ValueError(f"IA structure {settings.structure!r}: use one of {STRUCTURES}")
        unknown = settings.block_types - set(BLOCK_TYPES)
        if unknown or not settings.layers or not all(settings.layers):
            raise ValueError(f"IA block list {settings.layers}: every layer needs blocks from {BLOCK_TYPES}")
        self.settings = settings
        types = settings.block_types
        reduce = dict(bias=settings.bias, init_std=settings.init_std)
        # AlphAction's registration order: person, mem, person_key, object
        self.person_dim_reduce = PointwiseConv(settings.dim_person, settings.dim_inner, **reduce)
        if "M" in types:
            self.mem_dim_reduce = PointwiseConv(settings.dim_memory, settings.dim_inner, **reduce)
        if self._reduces_person_keys():
            self.person_key_dim_reduce = PointwiseConv(settings.dim_person, settings.dim_inner, **reduce)
        if "O" in types:
            self.object_dim_reduce = PointwiseConv(settings.dim_person, settings.dim_inner, **reduce)
        self.reduce_dropout = nn.Dropout(settings.dropout) if settings.dropout > 0 else nn.Identity()

    def _reduces_person_keys(self) -> bool:
        """Whether a P block attends over ``person_key_dim_reduce(persons)`` (AlphAction creates it with any P
        block; here only where it is used, since an unused parameter breaks DDP)."""
        return "P" in self.settings.block_types

    def _block(self, block_type: str, dim_out: int) -> InteractionBlock:
        c = self.settings
        slots = c.num_slots if block_type == "M" and c.temporal_position else 0
        return InteractionBlock(
            c.dim_inner,
            c.dim_inner,
            dim_out,
            c.dim_inner,
            bias=c.bias,
            init_std=c.init_std,
            zero_init_out=c.zero_init_out,
            layer_norm=c.layer_norm,
            dropout=c.dropout,
            num_time_slots=slots,
            qk_norm=c.qk_norm,
        )

    def _keys(
        self,
        persons: list[Tensor],
        objects: list[Tensor] | None,
        memory: list[ClipMemory] | None,
        layout: ClipLayout,
        person_rows: Tensor,
    ) -> tuple[dict[str, tuple[Tensor, Tensor]], tuple | None]:
        """Reduced key sets ``{type: ([B, S, dim_inner], mask [B, S])}`` and the P key slots (index ``[B, S]``
        into the person rows, mask ``[B, S]``), or None without P blocks."""
        c, types = self.settings, self.settings.block_types
        keys: dict[str, tuple[Tensor, Tensor]] = {}
        person_slots = None
        if "P" in types:
            person_slots = person_key_index(layout, c.max_person, random=self.training)
            if hasattr(self, "person_key_dim_reduce"):
                # reduce, then pad: padded slots are zeros in dim_inner space (AlphAction's order)
                self._set_person_keys(keys, self.reduce_dropout(self.person_key_dim_reduce(person_rows)), person_slots)
        if "O" in types:
            clip_objects = objects if objects is not None else [person_rows.new_zeros(0, c.dim_person)] * len(persons)
            if len(clip_objects) != len(persons):
                raise ValueError(f"IA: {len(clip_objects)} object tensors for a batch of {len(persons)} clips")
            raw, mask = pad_objects(clip_objects, c.max_object, c.dim_person, person_rows)
            keys["O"] = (self.reduce_dropout(self.object_dim_reduce(raw)), mask)
        if "M" in types:
            raw, mask = memory_grid(
                memory,
                persons,
                c.num_slots,
                c.length[0],
                c.max_per_sec,
                c.dim_memory,
                random=self.training,
                like=person_rows,
            )
            if c.memory_norm:  # empty slots stay zero rows (and masked)
                raw = F.layer_norm(raw, raw.shape[-1:]) * mask[..., None].to(raw.dtype)
            keys["M"] = (self.reduce_dropout(self.mem_dim_reduce(raw)), mask)
        return keys, person_slots

    def _prepare(self, persons: list[Tensor], objects: list[Tensor] | None, memory: list[ClipMemory] | None):
        if not persons:
            raise ValueError("IA: expected one [N_i, D] person feature tensor per clip, got none")
        person_rows = torch.cat(persons, dim=0)
        layout = ClipLayout([p.shape[0] for p in persons], device=person_rows.device)
        keys, person_slots = self._keys(persons, objects, memory, layout, person_rows)
        query = self.reduce_dropout(self.person_dim_reduce(person_rows))
        return query, keys, layout, person_slots

    def _run(
        self,
        block: InteractionBlock,
        block_type: str,
        query: Tensor,
        keys: dict[str, tuple[Tensor, Tensor]],
        layout: ClipLayout,
    ) -> Tensor:
        others, mask = keys[block_type]
        return block(query, others, mask if self.settings.mask_padding else None, layout)

    @staticmethod
    def _set_person_keys(keys: dict, rows: Tensor, person_slots: tuple[Tensor, Tensor]) -> None:
        """The P keys become ``rows`` ``[K, dim_inner]`` of each clip's persons, placed into zero slots
        (AlphAction's ``person_key = ...`` followed by ``separate_roi_per_person``)."""
        index, mask = person_slots
        keys["P"] = (gather_keys(rows, index, mask), mask)


class SerialIAStructure(IAStructure):
    """Blocks one after the other; block ``k``'s query is block ``k-1``'s output, and only the last block outputs
    ``dim_out``.

    Person keys follow AlphAction's serial rule: after **every** block (P, O or M) the person keys become that
    block's output, so a P block other than the first attends over the clip's persons as the previous block left
    them (``P_block_2`` over ``M_block_1``'s outputs), i.e. over its own queries; the first block, when it is a P
    block, attends over ``person_key_dim_reduce(persons)``.
    """

    def __init__(self, settings: IAConfig) -> None:
        super().__init__(settings)
        self.block_types = [layer[0] for layer in settings.layers]
        self.block_names = []
        counts = dict.fromkeys(BLOCK_TYPES, 0)
        for i, block_type in enumerate(self.block_types):
            counts[block_type] += 1
            name = f"{block_type}_block_{counts[block_type]}"
            last = i == len(self.block_types) - 1
            self.add_module(name, self._block(block_type, settings.dim_out if last else settings.dim_inner))
            self.block_names.append(name)

    def _reduces_person_keys(self) -> bool:
        # only a P block in first position sees the reduced persons; later ones see the previous block's output
        return self.settings.layers[0] == ("P",)

    def _query(self, index: int, outputs: list[Tensor], first: Tensor) -> Tensor:
        return outputs[-1] if outputs else first

    def forward(
        self, persons: list[Tensor], objects: list[Tensor] | None = None, memory: list[ClipMemory] | None = None
    ) -> Tensor:
        first, keys, layout, person_slots = self._prepare(persons, objects, memory)
        outputs: list[Tensor] = []
        for i, (name, block_type) in enumerate(zip(self.block_names, self.block_types)):
            query = self._query(i, outputs, first)
            if block_type == "P" and i > 0:
                # AlphAction sets person_key = query after every block (dense: also to the mixed query before
                # blocks 2..): either way the keys are this block's queries of the clip's persons
                self._set_person_keys(keys, query, person_slots)
            outputs.append(self._run(getattr(self, name), block_type, query, keys, layout))
        return outputs[-1]


class DenseSerialIAStructure(SerialIAStructure):
    """Serial, but from block 2 (0-based) on the query is a per-channel softmax-weighted sum of all earlier
    block outputs; weights ``dense_params[k]`` ``[k, dim_inner, 1, 1, 1]`` start near "only the previous
    block" (-5 ln 10 elsewhere, AlphAction's init). Before such a block the person keys become the mixed query
    (AlphAction's dense rule), after it the block's output, as in serial."""

    def __init__(self, settings: IAConfig) -> None:
        super().__init__(settings)
        self.dense_params = nn.ParameterDict()
        for k in range(2, len(self.block_names)):
            init = torch.full((k, settings.dim_inner, 1, 1, 1), -5.0 * math.log(10.0))
            init[k - 1] = 0.0
            self.dense_params[str(k)] = nn.Parameter(init)

    def _query(self, index: int, outputs: list[Tensor], first: Tensor) -> Tensor:
        if index < 2:
            return super()._query(index, outputs, first)
        weights = self.dense_params[str(index)].flatten(1).softmax(dim=0)  # [index, C]
        return torch.einsum("jkc,jc->kc", torch.stack(outputs), weights.to(first.dtype))


class ParallelIAStructure(IAStructure):
    """Layers of parallel blocks (AlphAction's parallel structure).

    Block ``k`` of layer ``l`` takes the output of block ``k`` of layer ``l-1`` (by position, as AlphAction; the
    reduced persons in layer 1), so a layer may not hold more blocks than the one before it. Blocks are named by
    a per-type count over the layers (``P_block_1``, ``P_block_2``, ...). Person keys start as
    ``person_key_dim_reduce(persons)`` and become a P block's output right after it (only P blocks update them).
    The result is the sum of the last layer's outputs, each ``dim_out`` wide.
    """

    def __init__(self, settings: IAConfig) -> None:
        super().__init__(settings)
        self.layer_names: list[list[tuple[str, str]]] = []
        counts = dict.fromkeys(BLOCK_TYPES, 0)
        for depth, layer in enumerate(settings.layers, start=1):
            if depth > 1 and len(layer) > len(settings.layers[depth - 2]):
                raise ValueError(
                    f"IA parallel layer {depth} {list(layer)} has more blocks than layer {depth - 1} "
                    f"{list(settings.layers[depth - 2])}: block k of a layer takes the output of block "
                    "k of the previous one (AlphAction)"
                )
            last = depth == len(settings.layers)
            names = []
            for block_type in layer:
                counts[block_type] += 1
                name = f"{block_type}_block_{counts[block_type]}"
                self.add_module(name, self._block(block_type, settings.dim_out if last else settings.dim_inner))
                names.append((name, block_type))
            self.layer_names.append(names)

    def forward(
        self, persons: list[Tensor], objects: list[Tensor] | None = None, memory: list[ClipMemory] | None = None
    ) -> Tensor:
        first, keys, layout, person_slots = self._prepare(persons, objects, memory)
        previous = [first] * len(self.layer_names[0])
        for names in self.layer_names:
            outputs = []
            for position, (name, block_type) in enumerate(names):
                out = self._run(getattr(self, name), block_type, previous[position], keys, layout)
                if block_type == "P":  # the next P block attends over this one's outputs
                    self._set_person_keys(keys, out, person_slots)
                outputs.append(out)
            previous = outputs
        return torch.stack(previous).sum(dim=0)


def make_ia_structure(settings: IAConfig) -> IAStructure:
    """The structure ``settings.structure`` names."""
    classes = {"serial": SerialIAStructure, "dense": DenseSerialIAStructure, "parallel": ParallelIAStructure}
    if settings.structure not in classes:
        raise ValueError(f"IA structure {settings.structure!r}: use one of {sorted(classes)}")
    if settings.structure != "parallel" and any(len(layer) != 1 for layer in settings.layers):
        raise ValueError(f"IA {settings.structure} structure: the block list must be flat, got {settings.layers}")
    return classes[settings.structure](settings)
