"""AlphAction's action loss: softmax focal on the pose group, sigmoid focal on the interaction groups."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
from torch import Tensor

from ...layers import sigmoid_focal_loss, softmax_focal_loss


@dataclass(frozen=True)
class ClassGroups:
    """Sizes of the three class groups; logits are ordered pose | object | person."""

    num_pose: int
    num_object: int
    num_person: int

    @property
    def num_classes(self) -> int:
        return self.num_pose + self.num_object + self.num_person

    def split(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        return tuple(x.split([self.num_pose, self.num_object, self.num_person], dim=-1))


def local_box_count(num_boxes: int, device: torch.device) -> float:
    """The loss normaliser of one process: its own box count."""
    return float(num_boxes)


class ActionLoss:
    """Weighted losses ``loss_pose_action``, ``loss_object_interaction``, ``loss_person_interaction``.

    - pose: softmax focal loss on ``argmax`` of the pose labels (an all-zero row counts as class 0, as in
      AlphAction), summed over boxes / number of boxes;
    - object, person: sigmoid focal loss, mean over the group's classes, summed over boxes / number of boxes.

    A group with no classes produces no entry. ``weights`` are final (the builder resolves AlphAction's
    "< 0 means the group size" convention).

    The number of boxes that divides the sums is ``box_count(num_boxes, device)``, at least 1: the call's own count
    by default. Under DDP AlphAction divides by the count averaged over the ranks, the same divisor on every rank;
    the engine sets that (``alphaction.engine.tasks.average_box_count_over_ranks``), so the model makes no
    collective call of its own.
    """

    def __init__(
        self,
        groups: ClassGroups,
        weights: tuple[float, float, float],
        gamma: float = 2.0,
        alpha: float = -1.0,
        box_count: Callable[[int, torch.device], float] = local_box_count,
    ) -> None:
        self.groups = groups
        self.weights = weights
        self.gamma = gamma
        self.alpha = alpha
        self.box_count = box_count

    def __call__(self, logits: Tensor, labels: Tensor) -> dict[str, Tensor]:
        """``logits``, ``labels``: ``[K, NUM_CLASSES]`` (labels multi-hot)."""
        if logits.shape != labels.shape:
            raise ValueError(f"ActionLoss: logits {tuple(logits.shape)} and labels {tuple(labels.shape)} differ")
        norm = max(self.box_count(logits.shape[0], logits.device), 1.0)
        pose_logits, object_logits, person_logits = self.groups.split(logits)
        pose_labels, object_labels, person_labels = self.groups.split(labels.to(logits.dtype))
        losses = {}
        if self.groups.num_pose > 0:
            target = pose_labels.argmax(dim=1) if logits.shape[0] > 0 else pose_labels.new_zeros(0).long()
            loss = softmax_focal_loss(pose_logits, target, self.gamma, self.alpha, reduction="sum")
            losses["loss_pose_action"] = loss / norm * self.weights[0]
        for name, size, group_logits, group_labels, weight in (
            ("loss_object_interaction", self.groups.num_object, object_logits, object_labels, self.weights[1]),
            ("loss_person_interaction", self.groups.num_person, person_logits, person_labels, self.weights[2]),
        ):
            if size > 0:
                loss = sigmoid_focal_loss(group_logits, group_labels, self.gamma, self.alpha, reduction="none")
                losses[name] = loss.mean(dim=1).sum() / norm * weight
        return losses
