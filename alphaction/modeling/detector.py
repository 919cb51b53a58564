"""``ActionDetector``: SlowFast backbone + ROI action head (AlphAction's baseline, without IA)."""
from __future__ import annotations

from torch import Tensor, nn

from .backbone import SlowFast
from .roi_heads import ROIActionHead


class ActionDetector(nn.Module):
    """Person-box action detector; state-dict keys start with ``backbone.`` and ``roi_heads.action.``.

    ``forward(slow, fast, boxes, image_sizes, labels=None, objects=None)``:
        slow ``[B, 3, T, H, W]``, fast ``[B, 3, alpha*T, H, W]``; ``boxes`` one ``[N_i, 4]`` xyxy tensor per clip
        in input pixels; ``image_sizes`` one ``(H_i, W_i)`` per clip (before batch padding); ``labels`` one
        ``[N_i, NUM_CLASSES]`` multi-hot tensor per clip (training); ``objects`` is accepted for the IA
        interface and unused.
    Returns the weighted loss dict in training, a list of ``[N_i, NUM_CLASSES]`` probabilities in eval.
    """

    # State-dict prefixes of the class-specific part that --no-head leaves out of MODEL.WEIGHT: the whole ROI
    # head, as in AlphAction (its Kinetics checkpoints carry their classifier under this prefix).
    head_prefixes: tuple[str, ...] = ("roi_heads.",)

    def __init__(self, backbone: SlowFast, action_head: ROIActionHead) -> None:
        super().__init__()
        self.backbone = backbone
        self.roi_heads = nn.ModuleDict({"action": action_head})

    def forward(self, slow: Tensor, fast: Tensor, boxes: list[Tensor], image_sizes: list[tuple[int, int]],
                labels: list[Tensor] | None = None,
                objects: list[Tensor] | None = None) -> dict[str, Tensor] | list[Tensor]:
        if len(boxes) != slow.shape[0]:
            raise ValueError(f"ActionDetector: {len(boxes)} box tensors for a batch of {slow.shape[0]} clips")
        features = self.backbone(slow, fast)
        return self.roi_heads["action"](features, list(boxes), list(image_sizes), labels)
