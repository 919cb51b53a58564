"""ROI feature extractor ``2MLPFeatureExtractor``: 3-D ROI pooling, spatial max-pool, optional IA, two FC layers."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from ...layers import pool_rois_3d
from ..ia import ClipMemory, IAStructure

FUSIONS = ("add", "concat")


@dataclass
class PooledFeatures:
    """ROI-pooled features of a batch, clip by clip: what the IA head needs besides memory.

    Attributes:
        persons: per clip ``[N_i, D]`` person-box features (what the memory pool stores).
        objects: per clip ``[M_i, D]`` object-box features (at most ``MAX_OBJECT``), or None when the model
            has no object blocks.
    """

    persons: list[Tensor]
    objects: list[Tensor] | None = None

    def detach(self) -> "PooledFeatures":
        return PooledFeatures(
            [p.detach() for p in self.persons], None if self.objects is None else [o.detach() for o in self.objects]
        )

    def to(self, device: torch.device | str, dtype: torch.dtype | None = None) -> "PooledFeatures":
        return PooledFeatures(
            [p.to(device, dtype) for p in self.persons],
            None if self.objects is None else [o.to(device, dtype) for o in self.objects],
        )


class MLPFeatureExtractor(nn.Module):
    """Pools slow and fast maps per box, concatenates channels, max-pools space, [IA], then
    fc1 -> ReLU -> fc2 -> ReLU.

    Args:
        dim_in: slow + fast channels of the backbone output.
        hidden_dim: width of fc1 and fc2 (``MLP_HEAD_DIM``).
        resolution, scale, sampling_ratio, mean_before_pooler, pooler_type: see
            :func:`alphaction.layers.pool_rois_3d`.
        ia_structure: the Interaction Aggregation module, or None (baseline). Its state-dict prefix is
            ``ia_structure.`` (AlphAction's; the detector's ``lr_groups["ia"]`` names it for ``SOLVER.IA_LR_FACTOR``).
        fusion: ``"add"`` (person + IA, needs ``dim_out == dim_in``) or ``"concat"`` (fc1 takes both).
        max_object: object boxes per clip pooled for the O blocks (the first ones: datasets sort by score).
    """

    def __init__(
        self,
        dim_in: int,
        hidden_dim: int,
        resolution: int = 7,
        scale: float = 1.0 / 16,
        sampling_ratio: int = 0,
        mean_before_pooler: bool = True,
        pooler_type: str = "align3d",
        ia_structure: IAStructure | None = None,
        fusion: str = "add",
        max_object: int = 0,
    ) -> None:
        super().__init__()
        self.resolution = resolution
        self.scale = scale
        self.sampling_ratio = sampling_ratio
        self.mean_before_pooler = mean_before_pooler
        self.pooler_type = pooler_type
        if fusion not in FUSIONS:
            raise ValueError(f"IA fusion {fusion!r}: use one of {FUSIONS}")
        fc1_in = dim_in
        if ia_structure is not None:
            ia_out = ia_structure.settings.dim_out
            if fusion == "add" and ia_out != dim_in:
                raise ValueError(
                    f"IA fusion 'add' needs the IA output width ({ia_out}) to equal the pooled "
                    f"feature width ({dim_in}); set MODEL.IA_STRUCTURE.DIM_OUT {dim_in} or FUSION 'concat'"
                )
            fc1_in = dim_in + (ia_out if fusion == "concat" else 0)
        # registered before fc1 / fc2: AlphAction's state-dict order
        self.ia_structure = ia_structure
        self.fusion = fusion
        self.uses_objects = ia_structure is not None and "O" in ia_structure.settings.block_types
        self.max_object = max_object
        self.fc1 = nn.Linear(fc1_in, hidden_dim)
        self.fc2 = nn.Linear(hidden_dim, hidden_dim)
        for fc in (self.fc1, self.fc2):
            nn.init.kaiming_uniform_(fc.weight, a=1)
            nn.init.zeros_(fc.bias)
        self.relu = nn.ReLU(inplace=True)
        self.dim_out = hidden_dim

    def pool(self, features: tuple[Tensor, ...], boxes: list[Tensor]) -> Tensor:
        """``[B, C_p, T_p, H, W]`` maps and per-clip boxes -> ``[K, sum C_p]`` box features."""
        pooled = [
            pool_rois_3d(
                f, boxes, self.resolution, self.scale, self.sampling_ratio, self.mean_before_pooler, self.pooler_type
            )
            for f in features
        ]
        # the spatial max over the whole resolution x resolution grid (AlphAction's MaxPool3d((1, 7, 7)))
        return torch.cat(pooled, dim=1).amax(dim=(2, 3))

    def pool_clips(
        self, features: tuple[Tensor, ...], boxes: list[Tensor], objects: list[Tensor] | None = None
    ) -> PooledFeatures:
        """Person features per clip, and object features per clip when the IA has object blocks (objects
        None = no objects in any clip)."""
        persons = list(self.pool(features, boxes).split([b.shape[0] for b in boxes], dim=0))
        if not self.uses_objects:
            return PooledFeatures(persons)
        if objects is None:
            objects = [b.new_zeros(0, 4) for b in boxes]
        if len(objects) != len(boxes):
            raise ValueError(f"MLPFeatureExtractor: {len(objects)} object box tensors for {len(boxes)} clips")
        kept = [(o if o.numel() else o.new_zeros(0, 4))[: self.max_object, :4] for o in objects]
        pooled_objects = self.pool(features, kept).split([o.shape[0] for o in kept], dim=0)
        return PooledFeatures(persons, list(pooled_objects))

    def forward_pooled(self, pooled: PooledFeatures, memory: list[ClipMemory] | None = None) -> Tensor:
        """Pooled features (+ memory for M blocks) -> ``[K, hidden_dim]``."""
        x = torch.cat(pooled.persons, dim=0)
        if self.ia_structure is not None:
            ia = self.ia_structure(pooled.persons, pooled.objects, memory)
            x = x + ia if self.fusion == "add" else torch.cat([x, ia], dim=1)
        x = self.relu(self.fc1(x))
        return self.relu(self.fc2(x))

    def forward(
        self,
        features: tuple[Tensor, ...],
        boxes: list[Tensor],
        objects: list[Tensor] | None = None,
        memory: list[ClipMemory] | None = None,
    ) -> Tensor:
        return self.forward_pooled(self.pool_clips(features, boxes, objects), memory)
