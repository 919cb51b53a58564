"""Embedded-gaussian non-local block with AlphAction's parameter names.

Children (so AlphAction checkpoints with non-local weights map one to one): ``theta``, ``phi``, ``g``
(1x1x1 convs to ``dim_inner``), ``out`` (1x1x1 conv back to ``dim_in``) and ``bn`` (after ``out``; gamma
initialised to ``bn_init_gamma``, 0 by default, so a fresh block is the identity). ``phi`` and ``g`` see the
input after an optional (1, 2, 2) max-pool. Affinity = softmax(theta^T phi * dim_inner^-0.5).
Not yet inserted into the SlowFast stages (see issue #9 item 1).
"""
from __future__ import annotations

import torch
from torch import Tensor, nn


class NLBlock(nn.Module):
    def __init__(self, dim_in: int, dim_inner: int, *, use_maxpool: bool = True, use_softmax: bool = True,
                 use_scale: bool = True, use_bn: bool = True, bias: bool = True, conv_init_std: float = 0.01,
                 zero_init_out: bool = False, bn_momentum: float = 0.1, bn_eps: float = 1e-5,
                 bn_init_gamma: float = 0.0):
        super().__init__()
        if dim_in <= 0 or dim_inner <= 0:
            raise ValueError(f"NLBlock: dim_in and dim_inner must be positive, got {dim_in}, {dim_inner}")
        self.dim_inner = dim_inner
        self.use_softmax = use_softmax
        self.use_scale = use_scale
        self.theta = nn.Conv3d(dim_in, dim_inner, 1, bias=bias)
        self.phi = nn.Conv3d(dim_in, dim_inner, 1, bias=bias)
        self.g = nn.Conv3d(dim_in, dim_inner, 1, bias=bias)
        self.out = nn.Conv3d(dim_inner, dim_in, 1, bias=bias)
        self.maxpool = nn.MaxPool3d((1, 2, 2), stride=(1, 2, 2)) if use_maxpool else None
        self.bn = nn.BatchNorm3d(dim_in, eps=bn_eps, momentum=bn_momentum) if use_bn else None
        for conv in (self.theta, self.phi, self.g, self.out):
            nn.init.normal_(conv.weight, std=conv_init_std)
            if conv.bias is not None:
                nn.init.zeros_(conv.bias)
        if zero_init_out:
            nn.init.zeros_(self.out.weight)
        if self.bn is not None:
            nn.init.constant_(self.bn.weight, bn_init_gamma)
            nn.init.zeros_(self.bn.bias)

    def forward(self, x: Tensor) -> Tensor:
        n, _, t, h, w = x.shape
        theta = self.theta(x).flatten(2)                      # N, C', THW
        pooled = self.maxpool(x) if self.maxpool is not None else x
        phi = self.phi(pooled).flatten(2)                     # N, C', T h w
        g = self.g(pooled).flatten(2)
        affinity = torch.bmm(theta.transpose(1, 2), phi)      # N, THW, Thw
        if self.use_scale:
            affinity = affinity * self.dim_inner ** -0.5
        if self.use_softmax:
            affinity = affinity.softmax(dim=2)
        y = torch.bmm(g, affinity.transpose(1, 2)).view(n, self.dim_inner, t, h, w)
        y = self.out(y)
        if self.bn is not None:
            y = self.bn(y)
        return x + y
