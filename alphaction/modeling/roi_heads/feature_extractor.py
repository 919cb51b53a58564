"""ROI feature extractor ``2MLPFeatureExtractor``: 3-D ROI pooling, spatial max-pool, two FC layers."""
from __future__ import annotations

import torch
from torch import Tensor, nn

from ...layers import pool_rois_3d


class MLPFeatureExtractor(nn.Module):
    """Pools slow and fast maps per box, concatenates channels, max-pools space, then fc1 -> ReLU -> fc2 -> ReLU.

    Args:
        dim_in: slow + fast channels of the backbone output.
        hidden_dim: width of fc1 and fc2 (``MLP_HEAD_DIM``).
        resolution, scale, sampling_ratio, mean_before_pooler, pooler_type: see
            :func:`alphaction.layers.pool_rois_3d`.
    """

    def __init__(self, dim_in: int, hidden_dim: int, resolution: int = 7, scale: float = 1.0 / 16,
                 sampling_ratio: int = 0, mean_before_pooler: bool = True, pooler_type: str = "align3d") -> None:
        super().__init__()
        self.resolution = resolution
        self.scale = scale
        self.sampling_ratio = sampling_ratio
        self.mean_before_pooler = mean_before_pooler
        self.pooler_type = pooler_type
        self.fc1 = nn.Linear(dim_in, hidden_dim)
        self.fc2 = nn.Linear(hidden_dim, hidden_dim)
        for fc in (self.fc1, self.fc2):
            nn.init.kaiming_uniform_(fc.weight, a=1)
            nn.init.zeros_(fc.bias)
        self.relu = nn.ReLU(inplace=True)
        self.dim_out = hidden_dim

    def pool(self, features: tuple[Tensor, ...], boxes: list[Tensor]) -> Tensor:
        """``[B, C_p, T_p, H, W]`` maps and per-clip boxes -> ``[K, sum C_p]`` box features."""
        pooled = [
            pool_rois_3d(f, boxes, self.resolution, self.scale, self.sampling_ratio, self.mean_before_pooler,
                         self.pooler_type)
            for f in features
        ]
        # the spatial max over the whole resolution x resolution grid (AlphAction's MaxPool3d((1, 7, 7)))
        return torch.cat(pooled, dim=1).amax(dim=(2, 3))

    def forward(self, features: tuple[Tensor, ...], boxes: list[Tensor]) -> Tensor:
        x = self.pool(features, boxes)
        x = self.relu(self.fc1(x))
        return self.relu(self.fc2(x))
