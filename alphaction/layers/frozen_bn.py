"""Batch norm with fixed statistics and affine terms (AlphAction's ``FrozenBatchNorm3d``)."""

from __future__ import annotations

import torch
from torch import Tensor, nn


class FrozenBatchNorm3d(nn.Module):
    """``y = x * scale + shift`` per channel of a ``[B, C, T, H, W]`` tensor, with
    ``scale = weight / sqrt(running_var + eps)`` and ``shift = bias - running_mean * scale``.

    ``weight``, ``bias``, ``running_mean`` and ``running_var`` are buffers: they are saved in the state dict
    but are not parameters, so no optimizer ever touches them. ``num_batches_tracked`` (written by
    ``nn.BatchNorm3d``) is dropped on load.
    """

    def __init__(self, num_features: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.num_features = num_features
        self.eps = eps
        self.register_buffer("weight", torch.ones(num_features))
        self.register_buffer("bias", torch.zeros(num_features))
        self.register_buffer("running_mean", torch.zeros(num_features))
        self.register_buffer("running_var", torch.ones(num_features))

    def forward(self, x: Tensor) -> Tensor:
        scale = self.weight * (self.running_var + self.eps).rsqrt()
        shift = self.bias - self.running_mean * scale
        shape = (1, -1) + (1,) * (x.dim() - 2)
        return x * scale.view(shape).to(x.dtype) + shift.view(shape).to(x.dtype)

    def _load_from_state_dict(
        self, state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys, error_msgs
    ):
        # checkpoints of a trainable nn.BatchNorm3d carry this counter; it means nothing here
        state_dict.pop(prefix + "num_batches_tracked", None)
        super()._load_from_state_dict(
            state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys, error_msgs
        )

    def extra_repr(self) -> str:
        return f"{self.num_features}, eps={self.eps}"
