"""``ClipClassifier``: SlowFast backbone + clip head (one label, or a multi-hot vector, per clip)."""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .backbone import SlowFast


class ClipHead(nn.Module):
    """Global average pool of each pathway, concat, dropout, linear (``proj``), as in PySlowFast's
    ``ResNetBasicHead`` and MMAction2's ``SlowFastHead``.

    Args:
        dim_in: slow + fast channels of the backbone output (2304 for SlowFast-R50 at full width).
        num_classes: logits per clip.
        dropout_rate: dropout on the pooled features.
    """

    def __init__(self, dim_in: int, num_classes: int, dropout_rate: float = 0.5) -> None:
        super().__init__()
        self.dropout = nn.Dropout(dropout_rate) if dropout_rate > 0 else nn.Identity()
        self.proj = nn.Linear(dim_in, num_classes)
        nn.init.normal_(self.proj.weight, std=0.01)
        nn.init.zeros_(self.proj.bias)

    def forward(self, slow_features: Tensor, fast_features: Tensor) -> Tensor:
        """``[B, C_s, T, h, w]``, ``[B, C_f, T', h, w]`` -> logits ``[B, num_classes]``."""
        pooled = torch.cat([slow_features.mean(dim=(2, 3, 4)), fast_features.mean(dim=(2, 3, 4))], dim=1)
        return self.proj(self.dropout(pooled))


class ClipClassifier(nn.Module):
    """Clip classifier; state-dict keys start with ``backbone.`` (identical to :class:`ActionDetector`'s, so
    ``--transfer --no-head`` moves the backbone between the two) and ``head.``.

    ``forward(slow, fast, labels=None)``: slow ``[B, 3, T, H, W]``, fast ``[B, 3, alpha*T, H, W]``; ``labels``
    int64 ``[B]`` class indices (single-label) or float ``[B, K]`` multi-hot (multi-label).
    Returns ``{"loss_cls": scalar}`` in training, class probabilities ``[B, K]`` in eval (softmax, or sigmoid
    when multi-label).

    Args:
        multi_label: sigmoid + binary cross-entropy instead of softmax + cross-entropy.
        class_weights: per-class loss weights ``[K]`` (None = uniform); for BCE they weight each class's term.
        label_smoothing: of the cross-entropy (single-label only).
    """

    # --no-head leaves these out of MODEL.WEIGHT: the class-specific linear layer
    head_prefixes: tuple[str, ...] = ("head.",)
    # parameter-name prefixes the solver gives their own lr factor (SOLVER.BACKBONE_LR_FACTOR)
    lr_groups: dict[str, str] = {"backbone": "backbone."}

    def __init__(
        self,
        backbone: SlowFast,
        head: ClipHead,
        multi_label: bool = False,
        class_weights: Sequence[float] | None = None,
        label_smoothing: float = 0.0,
    ) -> None:
        super().__init__()
        self.backbone = backbone
        self.head = head
        self.multi_label = bool(multi_label)
        self.label_smoothing = float(label_smoothing)
        num_classes = head.proj.out_features
        if class_weights is not None and len(class_weights) != num_classes:
            raise ValueError(f"ClipClassifier: {len(class_weights)} class weights for {num_classes} classes")
        # a buffer, so it follows .to(device); not persistent: checkpoints stay independent of the loss setting
        weights = torch.as_tensor(list(class_weights), dtype=torch.float32) if class_weights is not None else None
        self.register_buffer("class_weights", weights, persistent=False)

    @property
    def num_classes(self) -> int:
        return self.head.proj.out_features

    def logits(self, slow: Tensor, fast: Tensor) -> Tensor:
        """Class logits ``[B, K]``."""
        return self.head(*self.backbone(slow, fast))

    def loss(self, logits: Tensor, labels: Tensor) -> Tensor:
        """Mean loss of ``logits [B, K]`` against ``labels`` (``[B]`` int or ``[B, K]`` multi-hot)."""
        logits = logits.float()
        if self.multi_label:
            if labels.dim() != 2 or labels.shape != logits.shape:
                raise ValueError(
                    f"ClipClassifier (multi-label): labels of shape {tuple(labels.shape)}, expected "
                    f"{tuple(logits.shape)} multi-hot"
                )
            return F.binary_cross_entropy_with_logits(logits, labels.float(), weight=self.class_weights)
        if labels.dim() != 1:
            raise ValueError(
                f"ClipClassifier: labels of shape {tuple(labels.shape)}, expected [B] class indices "
                "(set MODEL.CLIP_HEAD.MULTI_LABEL True for multi-hot labels)"
            )
        return F.cross_entropy(logits, labels.long(), weight=self.class_weights, label_smoothing=self.label_smoothing)

    def probabilities(self, logits: Tensor) -> Tensor:
        return torch.sigmoid(logits) if self.multi_label else torch.softmax(logits, dim=1)

    def stage_prefixes(self, num_stages: int) -> list[str]:
        """Parameter-name prefixes of the backbone's first ``num_stages`` stages (``SOLVER.FREEZE_STAGES``)."""
        return ["backbone." + p for p in self.backbone.stage_prefixes(num_stages)]

    def forward(self, slow: Tensor, fast: Tensor, labels: Tensor | None = None):
        logits = self.logits(slow, fast)
        if self.training:
            if labels is None:
                raise ValueError("ClipClassifier: training needs labels")
            return {"loss_cls": self.loss(logits, labels)}
        return self.probabilities(logits.float())
