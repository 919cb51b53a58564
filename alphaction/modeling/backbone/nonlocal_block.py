"""Embedded-gaussian non-local block with AlphAction's parameter names.

Children (so AlphAction checkpoints with non-local weights map one to one): ``theta``, ``phi``, ``g``
(1x1x1 convs to ``dim_inner``), ``out`` (1x1x1 conv back to ``dim_in``) and ``bn`` (after ``out``; gamma
initialised to ``bn_init_gamma``, 0 by default, so a fresh block is the identity). ``phi`` and ``g`` see the
input after an optional (1, 2, 2) max-pool. Affinity = softmax(theta^T phi * dim_inner^-0.5).

``SlowFast`` inserts these blocks into res3 / res4 (``res_nl2`` / ``res_nl3``) as ``nonlocal_{i}`` after
every second residual block (see ``ResStage``); :class:`NonLocalSpec` says how each one is built.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from ...layers import FrozenBatchNorm3d


class NLBlock(nn.Module):
    """``x + BN(out(attention(theta(x), phi(x'), g(x'))))`` on ``[N, C, T, H, W]`` (same shape out).

    Args:
        group_size: when > 0, attention runs within groups of ``group_size`` consecutive frames (AlphAction's
            ``CONV3_GROUP_NL``, 4 frames) instead of over the whole clip; T must be a multiple of it.
        frozen_bn: the output BN is a ``FrozenBatchNorm3d`` (buffers only) instead of ``nn.BatchNorm3d``.
    """

    def __init__(
        self,
        dim_in: int,
        dim_inner: int,
        *,
        use_maxpool: bool = True,
        use_softmax: bool = True,
        use_scale: bool = True,
        use_bn: bool = True,
        bias: bool = True,
        conv_init_std: float = 0.01,
        zero_init_out: bool = False,
        bn_momentum: float = 0.1,
        bn_eps: float = 1e-5,
        bn_init_gamma: float = 0.0,
        frozen_bn: bool = False,
        group_size: int = 0,
    ):
        super().__init__()
        if dim_in <= 0 or dim_inner <= 0:
            raise ValueError(f"NLBlock: dim_in and dim_inner must be positive, got {dim_in}, {dim_inner}")
        if group_size < 0:
            raise ValueError(f"NLBlock: group_size must be >= 0 (0 = no grouping), got {group_size}")
        self.dim_inner = dim_inner
        self.use_softmax = use_softmax
        self.use_scale = use_scale
        self.group_size = int(group_size)
        self.theta = nn.Conv3d(dim_in, dim_inner, 1, bias=bias)
        self.phi = nn.Conv3d(dim_in, dim_inner, 1, bias=bias)
        self.g = nn.Conv3d(dim_in, dim_inner, 1, bias=bias)
        self.out = nn.Conv3d(dim_inner, dim_in, 1, bias=bias)
        self.maxpool = nn.MaxPool3d((1, 2, 2), stride=(1, 2, 2)) if use_maxpool else None
        if not use_bn:
            self.bn = None
        elif frozen_bn:
            self.bn = FrozenBatchNorm3d(dim_in, eps=bn_eps)
        else:
            self.bn = nn.BatchNorm3d(dim_in, eps=bn_eps, momentum=bn_momentum)
        for conv in (self.theta, self.phi, self.g, self.out):
            nn.init.normal_(conv.weight, std=conv_init_std)
            if conv.bias is not None:
                nn.init.zeros_(conv.bias)
        if zero_init_out:
            nn.init.zeros_(self.out.weight)
        if self.bn is not None:
            with torch.no_grad():  # buffers of a frozen BN, parameters otherwise
                self.bn.weight.fill_(bn_init_gamma)
                self.bn.bias.zero_()

    def _attend(self, x: Tensor) -> Tensor:
        n, _, t, h, w = x.shape
        theta = self.theta(x).flatten(2)  # N, C', THW
        pooled = self.maxpool(x) if self.maxpool is not None else x
        phi = self.phi(pooled).flatten(2)  # N, C', T h w
        g = self.g(pooled).flatten(2)
        affinity = torch.bmm(theta.transpose(1, 2), phi)  # N, THW, Thw
        if self.use_scale:
            affinity = affinity * self.dim_inner**-0.5
        if self.use_softmax:
            affinity = affinity.softmax(dim=2)
        return torch.bmm(g, affinity.transpose(1, 2)).view(n, self.dim_inner, t, h, w)

    def forward(self, x: Tensor) -> Tensor:
        n, c, t, h, w = x.shape
        k = self.group_size
        if k:
            if t % k:
                raise ValueError(
                    f"NLBlock: grouped non-local attention needs a multiple of {k} frames, got {t} "
                    "(CONV3_GROUP_NL: set it False or change INPUT.FRAME_NUM / TAU / ALPHA)"
                )
            # [N, C, T, H, W] -> [N * T/k, C, k, H, W]: each group of k consecutive frames attends on its own
            grouped = x.reshape(n, c, t // k, k, h, w).transpose(1, 2).reshape(n * t // k, c, k, h, w)
            y = self._attend(grouped).view(n, t // k, self.dim_inner, k, h, w).transpose(1, 2)
            y = y.reshape(n, self.dim_inner, t, h, w)
        else:
            y = self._attend(x)
        y = self.out(y)
        if self.bn is not None:
            y = self.bn(y)
        return x + y


@dataclass(frozen=True)
class NonLocalSpec:
    """How every non-local block of a backbone is built (AlphAction's ``MODEL.NONLOCAL.*``)."""

    use_maxpool: bool = True
    use_softmax: bool = True
    use_scale: bool = True
    use_bn: bool = True
    frozen_bn: bool = False
    bias: bool = True
    conv_init_std: float = 0.01
    zero_init_out: bool = False
    bn_momentum: float = 0.1
    bn_eps: float = 1e-5
    bn_init_gamma: float = 0.0

    def make(self, dim: int, group_size: int = 0) -> NLBlock:
        """A block on ``dim`` channels with ``dim // 2`` inner channels (AlphAction's ``int(dim / 2)``)."""
        return NLBlock(
            dim,
            max(1, dim // 2),
            use_maxpool=self.use_maxpool,
            use_softmax=self.use_softmax,
            use_scale=self.use_scale,
            use_bn=self.use_bn,
            bias=self.bias,
            conv_init_std=self.conv_init_std,
            zero_init_out=self.zero_init_out,
            bn_momentum=self.bn_momentum,
            bn_eps=self.bn_eps,
            bn_init_gamma=self.bn_init_gamma,
            frozen_bn=self.frozen_bn,
            group_size=group_size,
        )


@dataclass(frozen=True)
class NonLocalStages:
    """Where one pathway gets non-local blocks (AlphAction's ``CONV3_NONLOCAL`` / ``CONV4_NONLOCAL`` /
    ``CONV3_GROUP_NL``): after blocks 1, 3, 5, ... of res3 and/or res4; ``res3_group`` groups res3's by 4 frames."""

    res3: bool = False
    res4: bool = False
    res3_group: bool = False

    @property
    def any(self) -> bool:
        return self.res3 or self.res4
