"""``ActionDetector``: SlowFast backbone + ROI action head (with AlphAction's IA module when configured)."""

from __future__ import annotations

from torch import Tensor, nn

from .backbone import SlowFast
from .ia import ClipMemory
from .roi_heads import PooledFeatures, ROIActionHead


class ActionDetector(nn.Module):
    """Person-box action detector; state-dict keys start with ``backbone.`` and ``roi_heads.action.``.

    ``forward(slow, fast, boxes, image_sizes, labels=None, objects=None, memory=None, return_features=False)``:
        slow ``[B, 3, T, H, W]``, fast ``[B, 3, alpha*T, H, W]``; ``boxes`` one ``[N_i, 4]`` xyxy tensor per clip
        in input pixels; ``image_sizes`` one ``(H_i, W_i)`` per clip (before batch padding); ``labels`` one
        ``[N_i, NUM_CLASSES]`` multi-hot tensor per clip (training); ``objects`` one ``[M_i, 4]`` object box
        tensor per clip, by decreasing score (used by IA object blocks, ignored otherwise); ``memory`` one
        :class:`~alphaction.modeling.ia.ClipMemory` per clip (used by IA memory blocks; None = no other
        seconds).
    Returns the weighted loss dict in training, a list of ``[N_i, NUM_CLASSES]`` probabilities in eval; with
    ``return_features`` also the detached :class:`PooledFeatures` of the boxes used (for the memory pool).

    Two-stage inference: ``extract_features`` (backbone + ROI pooling) then ``predict_from_features``
    (IA + classifier, no backbone); together they equal ``forward`` in eval given the same memory.
    """

    # State-dict prefixes of the class-specific part that --no-head leaves out of MODEL.WEIGHT: the whole ROI
    # head, as in AlphAction (its Kinetics checkpoints carry their classifier under this prefix).
    head_prefixes: tuple[str, ...] = ("roi_heads.",)
    # The IA structure is an add-on to the baseline head (zero-initialised output: the identity at start), so a
    # baseline checkpoint finetunes an IA model with the IA starting fresh (the checkpointer's addon_prefixes).
    addon_prefixes: tuple[str, ...] = ("roi_heads.action.feature_extractor.ia_structure.",)
    # parameter-name prefixes the solver gives their own lr factor (SOLVER.BACKBONE_LR_FACTOR, SOLVER.IA_LR_FACTOR)
    lr_groups: dict[str, str] = {"backbone": "backbone.", "ia": "roi_heads.action.feature_extractor.ia_structure."}

    def __init__(self, backbone: SlowFast, action_head: ROIActionHead) -> None:
        super().__init__()
        self.backbone = backbone
        self.roi_heads = nn.ModuleDict({"action": action_head})

    @property
    def uses_memory(self) -> bool:
        """Whether the IA structure has memory (M) blocks: the engine then feeds ``memory`` from its pool."""
        ia = self.roi_heads["action"].feature_extractor.ia_structure
        return ia is not None and "M" in ia.settings.block_types

    def _check_batch(self, slow: Tensor, boxes: list[Tensor]) -> None:
        if len(boxes) != slow.shape[0]:
            raise ValueError(f"ActionDetector: {len(boxes)} box tensors for a batch of {slow.shape[0]} clips")

    def stage_prefixes(self, num_stages: int) -> list[str]:
        """Parameter-name prefixes of the backbone's first ``num_stages`` stages (``SOLVER.FREEZE_STAGES``)."""
        return ["backbone." + p for p in self.backbone.stage_prefixes(num_stages)]

    def forward(
        self,
        slow: Tensor,
        fast: Tensor,
        boxes: list[Tensor],
        image_sizes: list[tuple[int, int]],
        labels: list[Tensor] | None = None,
        objects: list[Tensor] | None = None,
        memory: list[ClipMemory] | None = None,
        return_features: bool = False,
    ):
        self._check_batch(slow, boxes)
        features = self.backbone(slow, fast)
        return self.roi_heads["action"](
            features,
            list(boxes),
            list(image_sizes),
            labels,
            objects=None if objects is None else list(objects),
            memory=memory,
            return_features=return_features,
        )

    def extract_features(
        self,
        slow: Tensor,
        fast: Tensor,
        boxes: list[Tensor],
        image_sizes: list[tuple[int, int]],
        objects: list[Tensor] | None = None,
    ) -> PooledFeatures:
        """Stage 1: pooled person features of the (widened) test boxes and object features, per clip."""
        self._check_batch(slow, boxes)
        features = self.backbone(slow, fast)
        return self.roi_heads["action"].extract_features(
            features, list(boxes), list(image_sizes), None if objects is None else list(objects)
        )

    def predict_from_features(self, pooled: PooledFeatures, memory: list[ClipMemory] | None = None) -> list[Tensor]:
        """Stage 2: per-clip ``[N_i, NUM_CLASSES]`` probabilities from stage-1 features and memory."""
        return self.roi_heads["action"].predict_from_features(pooled, memory)
