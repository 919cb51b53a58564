"""The ROI action head: box sampling / jitter (train) or widening (test), features, classifier, loss."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ...structures.boxes import extend_boxes, jitter_boxes, pixel_offset
from ..ia import ClipMemory
from .feature_extractor import MLPFeatureExtractor, PooledFeatures
from .loss import ActionLoss
from .postprocess import action_probabilities
from .predictor import FCPredictor


class ROIActionHead(nn.Module):
    """Classifies the actions of person boxes from backbone features.

    Args:
        feature_extractor: box features ``[K, D]`` from the backbone maps (with the IA module, if any).
        predictor: ``[K, D] -> [K, C]`` logits.
        loss: the weighted action loss.
        proposals_per_clip: training keeps at most this many (random) GT boxes per clip.
        train_jitter: ``jitter_boxes`` ratios applied to the kept training boxes.
        test_extend: ``extend_boxes`` scale applied to the test boxes.
        box_convention: pixel convention of the boxes (``INPUT.BOX_CONVENTION``, see
            ``alphaction.structures.boxes``): how wide a box is for the jitter and the widening, and where the
            image ends.

    ``forward(features, boxes, image_sizes, labels=None, objects=None, memory=None, return_features=False)``:
    training returns the loss dict, evaluation a list of ``[N_i, C]`` probabilities (row ``j`` for input box
    ``j``); with ``return_features`` a pair ``(that, PooledFeatures)`` of the boxes actually used (training:
    the sampled, jittered proposals; the engine's memory update stores their ``persons``).
    """

    def __init__(
        self,
        feature_extractor: MLPFeatureExtractor,
        predictor: FCPredictor,
        loss: ActionLoss,
        proposals_per_clip: int = 10,
        train_jitter: tuple[float, float, float, float] = (0.2, 0.1, 0.1, 0.05),
        test_extend: tuple[float, float] = (0.1, 0.05),
        box_convention: str = "continuous",
    ) -> None:
        super().__init__()
        pixel_offset(box_convention)  # validate early
        self.feature_extractor = feature_extractor
        self.predictor = predictor
        self.loss = loss
        self.proposals_per_clip = proposals_per_clip
        self.train_jitter = tuple(train_jitter)
        self.test_extend = tuple(test_extend)
        self.box_convention = box_convention

    def sample_proposals(
        self, boxes: list[Tensor], labels: list[Tensor], image_sizes: list[tuple[int, int]]
    ) -> tuple[list[Tensor], list[Tensor]]:
        """At most ``proposals_per_clip`` random GT boxes per clip, jittered and clipped to the image."""
        out_boxes, out_labels = [], []
        for clip_boxes, clip_labels, (height, width) in zip(boxes, labels, image_sizes):
            if clip_boxes.shape[0] > self.proposals_per_clip:
                keep = torch.randperm(clip_boxes.shape[0])[: self.proposals_per_clip].to(clip_boxes.device)
                clip_boxes, clip_labels = clip_boxes[keep], clip_labels[keep]
            out_boxes.append(jitter_boxes(clip_boxes, self.train_jitter, height, width, convention=self.box_convention))
            out_labels.append(clip_labels)
        return out_boxes, out_labels

    def test_boxes(self, boxes: list[Tensor], image_sizes: list[tuple[int, int]]) -> list[Tensor]:
        """The test-time widened boxes (``EXTEND_SCALE``)."""
        return [extend_boxes(b, self.test_extend, h, w, self.box_convention) for b, (h, w) in zip(boxes, image_sizes)]

    def extract_features(
        self,
        features: tuple[Tensor, ...],
        boxes: list[Tensor],
        image_sizes: list[tuple[int, int]],
        objects: list[Tensor] | None = None,
    ) -> PooledFeatures:
        """Stage 1 of two-stage inference: pooled person (widened test boxes) and object features, no IA."""
        return self.feature_extractor.pool_clips(features, self.test_boxes(boxes, image_sizes), objects)

    def predict_from_features(self, pooled: PooledFeatures, memory: list[ClipMemory] | None = None) -> list[Tensor]:
        """Stage 2 of two-stage inference: pooled features (+ memory) -> per-clip ``[N_i, C]`` probabilities."""
        logits = self.predictor(self.feature_extractor.forward_pooled(pooled, memory))
        probs = action_probabilities(logits, self.loss.groups.num_pose)
        return list(probs.split([p.shape[0] for p in pooled.persons], dim=0))

    def forward(
        self,
        features: tuple[Tensor, ...],
        boxes: list[Tensor],
        image_sizes: list[tuple[int, int]],
        labels: list[Tensor] | None = None,
        objects: list[Tensor] | None = None,
        memory: list[ClipMemory] | None = None,
        return_features: bool = False,
    ):
        if len(boxes) != len(image_sizes):
            raise ValueError(f"ROIActionHead: {len(boxes)} box tensors but {len(image_sizes)} image sizes")
        if memory is not None and len(memory) != len(boxes):
            raise ValueError(f"ROIActionHead: {len(memory)} ClipMemory entries for {len(boxes)} clips")
        if self.training:
            if labels is None:
                raise ValueError("ROIActionHead: training needs labels (one [N_i, NUM_CLASSES] tensor per clip)")
            boxes, labels = self.sample_proposals(boxes, labels, image_sizes)
            pooled = self.feature_extractor.pool_clips(features, boxes, objects)
            logits = self.predictor(self.feature_extractor.forward_pooled(pooled, memory))
            result = self.loss(logits, torch.cat(labels, dim=0))
        else:
            pooled = self.extract_features(features, boxes, image_sizes, objects)
            result = self.predict_from_features(pooled, memory)
        return (result, pooled.detach()) if return_features else result
