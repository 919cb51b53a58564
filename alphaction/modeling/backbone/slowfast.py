"""SlowFast ResNet backbone with AlphAction's state-dict layout.

Key names follow AlphAction (``modeling/backbone/slowfast.py``): each pathway has ``conv1``/``bn1`` (stem)
and stages ``res_nl1..res_nl4`` (ResNet res2..res5) made of blocks ``res_{i}`` with a bottleneck ``btnk``
(``conv1/conv2/conv3``, each a conv + BN pair ``conv``/``bn``) and an optional projection ``shortcut``. The
lateral time-strided convs ``Tconv1..Tconv4`` live in the fast pathway, registered after its stages.
Optional non-local blocks (``nonlocal_block.NLBlock``, off in every released AlphAction config) sit in
res3 / res4 as ``res_nl2.nonlocal_{i}`` / ``res_nl3.nonlocal_{i}`` after blocks ``res_{i}``, i = 1, 3, 5, ...

Options for the PySlowFast / pytorchvideo form (so their checkpoints load without approximation; the
AlphAction form stays the default): ``lateral="fuse"`` (conv without bias + BN + ReLU, children ``conv``
and ``bn``), ``lateral_kernel`` 7 (their 8x8) or 5 (4x16), ``stem_pool_padding`` (their max-pool pads
(0, 1, 1)), and ``res5_stride`` / ``res5_dilation`` (2 / 1 in their recognition models, 1 / 2 for detection).
Everything else (stem kernels, temporal kernels, stride on the 3x3 conv, widths, concat order) is shared.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
from torch import Tensor, nn

from ...layers import FrozenBatchNorm3d
from .nonlocal_block import NonLocalSpec, NonLocalStages

# published widths (WIDTH_MULT 1.0): stem output, then the output of res2..res5; inner = bottleneck width
SLOW_WIDTHS = (64, 256, 512, 1024, 2048)
SLOW_INNER = (64, 128, 256, 512)
FAST_WIDTHS = (8, 32, 64, 128, 256)
FAST_INNER = (8, 16, 32, 64)
LATERAL_FORMS = ("tconv", "fuse")
SLOW_TEMPORAL_KERNELS = (1, 1, 3, 3)
FAST_TEMPORAL_KERNELS = (3, 3, 3, 3)
BLOCKS_PER_STAGE = {
    "Slowfast-Resnet14": (1, 1, 1, 1),
    "Slowfast-Resnet50": (3, 4, 6, 3),
    "Slowfast-Resnet101": (3, 4, 23, 3),
}


@dataclass(frozen=True)
class BatchNormSpec:
    """How every BN of the backbone is built."""

    frozen: bool = True
    eps: float = 1e-5
    momentum: float = 0.1
    init_gamma_last: float = 0.0  # gamma of the last BN of each bottleneck (trainable BN only)

    def make(self, channels: int, last: bool = False) -> nn.Module:
        if self.frozen:
            return FrozenBatchNorm3d(channels, eps=self.eps)
        bn = nn.BatchNorm3d(channels, eps=self.eps, momentum=self.momentum)
        if last:
            nn.init.constant_(bn.weight, self.init_gamma_last)
        return bn


def scaled_width(channels: int, width_mult: float) -> int:
    """``channels * width_mult`` rounded, at least 1."""
    return max(1, int(round(channels * width_mult)))


class Conv3dBN(nn.Module):
    """Bias-free ``Conv3d`` followed by BN (children ``conv`` and ``bn``)."""

    def __init__(
        self,
        dim_in: int,
        dim_out: int,
        kernel: tuple[int, int, int],
        stride: tuple[int, int, int],
        padding: tuple[int, int, int],
        bn: BatchNormSpec,
        dilation: tuple[int, int, int] = (1, 1, 1),
        last: bool = False,
    ) -> None:
        super().__init__()
        self.conv = nn.Conv3d(dim_in, dim_out, kernel, stride=stride, padding=padding, dilation=dilation, bias=False)
        nn.init.kaiming_normal_(self.conv.weight)
        self.bn = bn.make(dim_out, last=last)

    def forward(self, x: Tensor) -> Tensor:
        return self.bn(self.conv(x))


class Bottleneck(nn.Module):
    """``(kt,1,1)`` -> ``(1,3,3)`` (spatial stride and dilation here, "ResNet v1.5") -> ``(1,1,1)``."""

    def __init__(
        self,
        dim_in: int,
        dim_inner: int,
        dim_out: int,
        temporal_kernel: int,
        stride: int,
        dilation: int,
        bn: BatchNormSpec,
    ) -> None:
        super().__init__()
        self.conv1 = Conv3dBN(dim_in, dim_inner, (temporal_kernel, 1, 1), (1, 1, 1), (temporal_kernel // 2, 0, 0), bn)
        self.conv2 = Conv3dBN(
            dim_inner,
            dim_inner,
            (1, 3, 3),
            (1, stride, stride),
            (0, dilation, dilation),
            bn,
            dilation=(1, dilation, dilation),
        )
        self.conv3 = Conv3dBN(dim_inner, dim_out, (1, 1, 1), (1, 1, 1), (0, 0, 0), bn, last=True)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: Tensor) -> Tensor:
        x = self.relu(self.conv1(x))
        x = self.relu(self.conv2(x))
        return self.conv3(x)


class ResBlock(nn.Module):
    """Bottleneck plus identity or projection shortcut, then ReLU."""

    def __init__(
        self,
        dim_in: int,
        dim_inner: int,
        dim_out: int,
        temporal_kernel: int,
        stride: int,
        dilation: int,
        bn: BatchNormSpec,
        force_shortcut: bool = False,
    ) -> None:
        super().__init__()
        self.btnk = Bottleneck(dim_in, dim_inner, dim_out, temporal_kernel, stride, dilation, bn)
        if force_shortcut or dim_in != dim_out or stride != 1:
            self.shortcut = Conv3dBN(dim_in, dim_out, (1, 1, 1), (1, stride, stride), (0, 0, 0), bn)
        else:
            self.shortcut = None
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: Tensor) -> Tensor:
        identity = x if self.shortcut is None else self.shortcut(x)
        return self.relu(self.btnk(x) + identity)


class ResStage(nn.Module):
    """``num_blocks`` blocks named ``res_0 .. res_{n-1}``; the first one strides and widens.

    With ``make_nonlocal`` (``dim_out -> module``), a non-local block ``nonlocal_{i}`` follows every block
    ``res_{i}`` with odd ``i`` (AlphAction's placement: after every second block).
    """

    def __init__(
        self,
        num_blocks: int,
        dim_in: int,
        dim_inner: int,
        dim_out: int,
        temporal_kernel: int,
        stride: int,
        dilation: int,
        bn: BatchNormSpec,
        make_nonlocal: Callable[[int], nn.Module] | None = None,
    ) -> None:
        super().__init__()
        self.num_blocks = num_blocks
        self.order: list[str] = []  # forward order: res_0, res_1, nonlocal_1, res_2, ...
        for i in range(num_blocks):
            # a dilated stage's first block always projects (AlphAction: pretrained res5_0 has a shortcut)
            block = ResBlock(
                dim_in if i == 0 else dim_out,
                dim_inner,
                dim_out,
                temporal_kernel,
                stride if i == 0 else 1,
                dilation,
                bn,
                force_shortcut=(i == 0 and dilation > 1),
            )
            self.add_module(f"res_{i}", block)
            self.order.append(f"res_{i}")
            if make_nonlocal is not None and i % 2 == 1:
                self.add_module(f"nonlocal_{i}", make_nonlocal(dim_out))
                self.order.append(f"nonlocal_{i}")

    def forward(self, x: Tensor) -> Tensor:
        for name in self.order:
            x = getattr(self, name)(x)
        return x


class LateralConv(nn.Module):
    """Fast -> slow connection: ``Conv3d(C, 2C, (k,1,1), stride (alpha,1,1), padding (k//2,0,0))``.

    ``form="tconv"`` (AlphAction): the conv has a bias and nothing follows it. ``form="fuse"`` (PySlowFast
    ``s{k}_fuse`` / pytorchvideo ``FuseFastToSlow``): bias-free conv, then BN (child ``bn``) and ReLU.
    """

    def __init__(
        self,
        dim_in: int,
        dim_out: int,
        alpha: int,
        kernel: int = 5,
        form: str = "tconv",
        bn: BatchNormSpec | None = None,
    ) -> None:
        super().__init__()
        if form not in LATERAL_FORMS:
            raise ValueError(f"lateral form {form!r} is not one of {LATERAL_FORMS}")
        fuse = form == "fuse"
        self.conv = nn.Conv3d(
            dim_in, dim_out, (kernel, 1, 1), stride=(alpha, 1, 1), padding=(kernel // 2, 0, 0), bias=not fuse
        )
        nn.init.kaiming_normal_(self.conv.weight)
        if fuse:
            self.bn = (bn or BatchNormSpec()).make(dim_out)
            self.relu = nn.ReLU(inplace=True)
        else:
            nn.init.zeros_(self.conv.bias)
            self.bn = None

    def forward(self, x: Tensor) -> Tensor:
        x = self.conv(x)
        return x if self.bn is None else self.relu(self.bn(x))


class Pathway(nn.Module):
    """Stem (``conv1``, ``bn1``, ReLU, max-pool) and four stages ``res_nl1..res_nl4`` of one pathway.

    ``extra_in[i]`` channels (the lateral input) are added to the input width of stage ``i``.
    """

    def __init__(
        self,
        widths: tuple[int, ...],
        inner: tuple[int, ...],
        blocks: tuple[int, ...],
        stem_temporal_kernel: int,
        temporal_kernels: tuple[int, ...],
        extra_in: tuple[int, ...],
        bn: BatchNormSpec,
        strides: tuple[int, ...] = (1, 2, 2, 1),
        dilations: tuple[int, ...] = (1, 1, 1, 2),
        stem_pool_padding: bool = False,
        nonlocal_spec: NonLocalSpec | None = None,
        nonlocal_stages: NonLocalStages = NonLocalStages(),
    ) -> None:
        super().__init__()
        kt = stem_temporal_kernel
        self.conv1 = nn.Conv3d(3, widths[0], (kt, 7, 7), stride=(1, 2, 2), padding=(kt // 2, 3, 3), bias=False)
        nn.init.kaiming_normal_(self.conv1.weight)
        self.bn1 = bn.make(widths[0])
        self.relu = nn.ReLU(inplace=True)
        # AlphAction pools without padding; PySlowFast / pytorchvideo pad (0, 1, 1) (same size on even inputs,
        # but the windows are shifted by one pixel, so the features differ)
        self.maxpool1 = nn.MaxPool3d((1, 3, 3), stride=(1, 2, 2), padding=(0, 1, 1) if stem_pool_padding else 0)
        spec = nonlocal_spec or NonLocalSpec()
        # stage index -> builder of its non-local blocks (res3 = res_nl2, res4 = res_nl3; only res3 groups)
        makers: dict[int, Callable[[int], nn.Module]] = {}
        if nonlocal_stages.res3:
            makers[1] = lambda dim: spec.make(dim, group_size=4 if nonlocal_stages.res3_group else 0)
        if nonlocal_stages.res4:
            makers[2] = lambda dim: spec.make(dim)
        for i in range(4):
            stage = ResStage(
                blocks[i],
                widths[i] + extra_in[i],
                inner[i],
                widths[i + 1],
                temporal_kernels[i],
                strides[i],
                dilations[i],
                bn,
                make_nonlocal=makers.get(i),
            )
            self.add_module(f"res_nl{i + 1}", stage)

    def stem(self, x: Tensor) -> Tensor:
        return self.maxpool1(self.relu(self.bn1(self.conv1(x))))


class SlowFast(nn.Module):
    """Two-pathway SlowFast ResNet; ``forward(slow, fast) -> (slow_features, fast_features)``.

    Args:
        blocks: blocks per stage (res2..res5), e.g. ``(3, 4, 6, 3)`` for ResNet-50.
        alpha: temporal stride of the lateral convs (fast frames / slow frames).
        width_mult: scales every channel width of both pathways (1.0 = published widths).
        bn: how the BN layers are built.
        lateral: ``"tconv"`` (AlphAction: conv with bias) or ``"fuse"`` (PySlowFast / pytorchvideo: bias-free
            conv + BN + ReLU).
        lateral_kernel: temporal kernel of the lateral convs (AlphAction 5; PySlowFast 8x8 7, 4x16 5).
        stem_pool_padding: pad the stem max-pool by (0, 1, 1) (PySlowFast / pytorchvideo) instead of not at all.
        res5_stride: spatial stride of res5 (1: output stride 16, detection; 2: output stride 32, recognition).
        res5_dilation: spatial dilation of the res5 3x3 convs (2 with stride 1 for detection, 1 otherwise).
        nonlocal_spec: how non-local blocks are built (``MODEL.NONLOCAL``).
        slow_nonlocal, fast_nonlocal: which stages of each pathway get non-local blocks (none by default).

    Inputs ``slow [B, 3, T, H, W]`` and ``fast [B, 3, alpha*T, H, W]``; outputs
    ``[B, dim_out_slow, T, H/s, W/s]`` and ``[B, dim_out_fast, alpha*T, H/s, W/s]`` with ``s = output_stride``
    (16, or 32 when ``res5_stride`` is 2); ``dim_out`` is their channel sum.
    """

    NUM_STAGES = 5  # stem + res2..res5: what SOLVER.FREEZE_STAGES counts

    @staticmethod
    def stage_prefixes(num_stages: int) -> list[str]:
        """Parameter-name prefixes (relative to this module) of the first ``num_stages`` stages: the stem, then
        res2..res5, each with the lateral conv into the slow pathway that follows it."""
        if not 0 <= num_stages <= SlowFast.NUM_STAGES:
            raise ValueError(f"{num_stages} stages asked for; a SlowFast backbone has 0..{SlowFast.NUM_STAGES}")
        prefixes = []
        for k in range(1, num_stages + 1):
            own = ["conv1.", "bn1."] if k == 1 else [f"res_nl{k - 1}."]
            prefixes += [f"{path}.{m}" for path in ("slow", "fast") for m in own]
            prefixes.append(f"fast.Tconv{k}.")
        return prefixes

    def __init__(
        self,
        blocks: tuple[int, int, int, int],
        alpha: int,
        width_mult: float = 1.0,
        bn: BatchNormSpec | None = None,
        lateral: str = "tconv",
        lateral_kernel: int = 5,
        stem_pool_padding: bool = False,
        res5_stride: int = 1,
        res5_dilation: int = 2,
        nonlocal_spec: NonLocalSpec | None = None,
        slow_nonlocal: NonLocalStages = NonLocalStages(),
        fast_nonlocal: NonLocalStages = NonLocalStages(),
    ) -> None:
        super().__init__()
        bn = bn or BatchNormSpec()
        slow_widths = tuple(scaled_width(c, width_mult) for c in SLOW_WIDTHS)
        slow_inner = tuple(scaled_width(c, width_mult) for c in SLOW_INNER)
        fast_widths = tuple(scaled_width(c, width_mult) for c in FAST_WIDTHS)
        fast_inner = tuple(scaled_width(c, width_mult) for c in FAST_INNER)
        lateral_widths = tuple(2 * c for c in fast_widths[:4])
        self.alpha = int(alpha)
        strides = (1, 2, 2, int(res5_stride))
        dilations = (1, 1, 1, int(res5_dilation))
        form = dict(strides=strides, dilations=dilations, stem_pool_padding=bool(stem_pool_padding))
        self.slow = Pathway(
            slow_widths,
            slow_inner,
            tuple(blocks),
            1,
            SLOW_TEMPORAL_KERNELS,
            lateral_widths,
            bn,
            nonlocal_spec=nonlocal_spec,
            nonlocal_stages=slow_nonlocal,
            **form,
        )
        self.fast = Pathway(
            fast_widths,
            fast_inner,
            tuple(blocks),
            5,
            FAST_TEMPORAL_KERNELS,
            (0, 0, 0, 0),
            bn,
            nonlocal_spec=nonlocal_spec,
            nonlocal_stages=fast_nonlocal,
            **form,
        )
        # registered after the fast stages so the key order matches AlphAction's checkpoints
        for i in range(4):
            self.fast.add_module(
                f"Tconv{i + 1}",
                LateralConv(
                    fast_widths[i], lateral_widths[i], self.alpha, kernel=int(lateral_kernel), form=lateral, bn=bn
                ),
            )
        self.output_stride = 16 * int(res5_stride)
        self.dim_out_slow = slow_widths[-1]
        self.dim_out_fast = fast_widths[-1]
        self.dim_out = self.dim_out_slow + self.dim_out_fast

    def forward(self, slow: Tensor, fast: Tensor) -> tuple[Tensor, Tensor]:
        slow = self.slow.stem(slow)
        fast = self.fast.stem(fast)
        for i in range(1, 5):
            lateral = getattr(self.fast, f"Tconv{i}")(fast)
            if lateral.shape[2] != slow.shape[2]:
                raise ValueError(
                    f"SlowFast: the lateral conv turns {fast.shape[2]} fast frames into {lateral.shape[2]}, "
                    f"but the slow pathway has {slow.shape[2]}; feed alpha={self.alpha} times as many fast "
                    "frames as slow ones (INPUT.TAU / INPUT.ALPHA)"
                )
            slow = getattr(self.slow, f"res_nl{i}")(torch.cat([slow, lateral], dim=1))
            fast = getattr(self.fast, f"res_nl{i}")(fast)
        return slow, fast
