"""Interaction blocks: attention of person queries over persons (P), objects (O) or memory (M).

The projections are ``1 x 1 x 1`` ``Conv3d`` modules so that parameters carry AlphAction's names and shapes
(``query.weight`` ``[C_out, C_in, 1, 1, 1]``), but they are applied to ``[..., C]`` rows as linear maps: the
IA features have no spatial or temporal extent.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .inputs import ClipLayout


class PointwiseConv(nn.Conv3d):
    """A ``1 x 1 x 1`` ``Conv3d`` (AlphAction's parameter layout) applied as a linear map on ``[..., C_in]``."""

    def __init__(self, dim_in: int, dim_out: int, bias: bool = True, init_std: float | None = 0.01) -> None:
        super().__init__(dim_in, dim_out, kernel_size=1, bias=bias)
        # init_std None: zero weights (the zero-initialised output projection)
        if init_std is None:
            nn.init.zeros_(self.weight)
        else:
            nn.init.normal_(self.weight, std=init_std)
        if self.bias is not None:
            nn.init.zeros_(self.bias)

    def forward(self, x: Tensor) -> Tensor:
        return F.linear(x, self.weight.flatten(1), self.bias)


class InteractionBlock(nn.Module):
    """One interaction: scaled dot-product attention of person queries over per-clip keys, then
    ``[LayerNorm] -> ReLU -> out -> dropout`` and a residual (through ``shortcut`` when widths differ).

    Args:
        dim_person: query width.
        dim_other: key / value input width.
        dim_out: output width.
        dim_inner: attention width (``query`` / ``key`` / ``value`` outputs).
        bias: projections with bias (``not NO_BIAS``).
        init_std: normal init std of the projections and the shortcut.
        zero_init_out: zero-initialise ``out`` so that a fresh block passes its input through unchanged.
        layer_norm: non-affine LayerNorm over the attention output (no state-dict entries).
        dropout: dropout after ``out``.
        num_time_slots: > 0 adds learned per-slot embeddings ``temporal_position_k`` / ``temporal_position_v``
            (memory blocks): keys are laid out as ``num_time_slots`` consecutive groups of equal size and the
            embedding of a group is added to the projected keys / values of all its entries.
        qk_norm: non-affine LayerNorm on the projected queries and keys (after the time embedding), so that
            the attention logits stay within ``+-sqrt(dim_inner)`` however large the features grow (not in
            AlphAction; no state-dict entries).
    """

    def __init__(
        self,
        dim_person: int,
        dim_other: int,
        dim_out: int,
        dim_inner: int,
        bias: bool = True,
        init_std: float = 0.01,
        zero_init_out: bool = True,
        layer_norm: bool = False,
        dropout: float = 0.0,
        num_time_slots: int = 0,
        qk_norm: bool = False,
    ) -> None:
        super().__init__()
        self.dim_inner = dim_inner
        self.qk_norm = qk_norm
        self.num_time_slots = num_time_slots
        # parameter registration order = AlphAction's state-dict order
        if num_time_slots > 0:
            self.temporal_position_k = nn.Parameter(torch.zeros(num_time_slots, 1, dim_inner, 1, 1, 1))
            self.temporal_position_v = nn.Parameter(torch.zeros(num_time_slots, 1, dim_inner, 1, 1, 1))
        self.query = PointwiseConv(dim_person, dim_inner, bias, init_std)
        self.key = PointwiseConv(dim_other, dim_inner, bias, init_std)
        self.value = PointwiseConv(dim_other, dim_inner, bias, init_std)
        self.out = PointwiseConv(dim_inner, dim_out, bias, None if zero_init_out else init_std)
        self.shortcut = PointwiseConv(dim_person, dim_out, bias, init_std) if dim_person != dim_out else None
        self.layer_norm = nn.LayerNorm(dim_inner, elementwise_affine=False) if layer_norm else nn.Identity()
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()

    def _add_time_embedding(self, x: Tensor, embedding: Tensor) -> Tensor:
        batch, slots, channels = x.shape
        if slots % self.num_time_slots:
            raise ValueError(
                f"InteractionBlock: {slots} memory keys do not split into {self.num_time_slots} "
                "time slots of equal size"
            )
        x = x.view(batch, self.num_time_slots, slots // self.num_time_slots, channels)
        return (x + embedding.view(self.num_time_slots, 1, channels)).view(batch, slots, channels)

    def _project(self, query: Tensor, others: Tensor, layout: ClipLayout) -> tuple[Tensor, Tensor, Tensor]:
        """Padded queries ``[B, N, C]``, keys and values ``[B, S, C]`` as the attention sees them."""
        q = layout.to_padded(self.query(query))  # [B, N, C]
        k, v = self.key(others), self.value(others)  # [B, S, C]
        if self.num_time_slots > 0:
            k = self._add_time_embedding(k, self.temporal_position_k)
            v = self._add_time_embedding(v, self.temporal_position_v)
        if self.qk_norm:
            q, k = F.layer_norm(q, q.shape[-1:]), F.layer_norm(k, k.shape[-1:])
        return q, k, v

    @staticmethod
    def _attention_mask(mask: Tensor | None) -> tuple[Tensor | None, Tensor | None]:
        """``(has_keys [B], attn_mask [B, 1, S])``, both None without a mask."""
        if mask is None:
            return None, None
        has_keys = mask.any(dim=1)  # [B]
        # a fully masked row would make the softmax NaN: open it, and drop its result afterwards
        return has_keys, (mask | ~has_keys[:, None])[:, None, :]

    def forward(self, query: Tensor, others: Tensor, mask: Tensor | None, layout: ClipLayout) -> Tensor:
        """Args:
            query: ``[K, dim_person]``, one row per person box (clips in order, see ``layout``).
            others: ``[B, S, dim_other]`` keys / values of every clip (zero rows where padded).
            mask: ``[B, S]`` bool, True where a slot holds a real entry; None lets every slot take part
                (AlphAction's unmasked behaviour). A clip without any valid slot gets no interaction: its
                rows leave the block as ``shortcut(query)`` (or ``query``).
            layout: which clip every query row belongs to.

        Returns:
            ``[K, dim_out]``.
        """
        residual = query if self.shortcut is None else self.shortcut(query)
        if query.shape[0] == 0 or others.shape[1] == 0:
            return residual
        q, k, v = self._project(query, others, layout)
        has_keys, attn_mask = self._attention_mask(mask)
        # default scale 1 / sqrt(dim_inner), as AlphAction
        attended = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask)
        x = layout.from_padded(attended)  # [K, C]
        x = self.dropout(self.out(F.relu(self.layer_norm(x))))
        if has_keys is not None:
            x = x * has_keys[layout.clip_index].to(x.dtype)[:, None]
        return residual + x

    def attention_weights(self, query: Tensor, others: Tensor, mask: Tensor | None, layout: ClipLayout) -> Tensor:
        """The softmax weights ``forward`` uses, ``[K, S]``: one row per query over its clip's ``S`` slots (the
        same arguments as :meth:`forward`; for diagnostics, e.g. which memory entries a person attends to)."""
        q, k, _ = self._project(query, others, layout)
        logits = q @ k.transpose(1, 2) / self.dim_inner**0.5  # [B, N, S]
        _, attn_mask = self._attention_mask(mask)
        if attn_mask is not None:
            logits = logits.masked_fill(~attn_mask, float("-inf"))
        return layout.from_padded(logits.softmax(dim=-1))
