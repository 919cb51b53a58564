"""Export a model to TorchScript (by tracing) or ONNX, and measure how far the export is from the eager model.

    from alphaction.apis import init_model
    from alphaction.apis.export import export_model
    model = init_model("config_files/....yaml", "model_final.pth")
    result = export_model(model.module, model.cfg, "torchscript", "model.pt")
    result.max_abs_diff          # {"same input": ..., "other input (5 boxes)": ...}

What is exported (the eval-mode forward, no training paths):
- a clip classifier (``ClipClassifier``) as :class:`ExportedClassifier`: ``(slow, fast) -> probabilities [B, K]``;
- an action detector (``ActionDetector``, baseline head only) as :class:`ExportedDetector`:
  ``(slow, fast, boxes) -> probabilities [N, C]`` for the ``N`` person boxes of one clip.
The IA structure (person / object / memory blocks) is not exported: it needs per-clip lists, object boxes and a
memory pool that live outside the model. SlowFast is traced, not scripted: ``torch.jit.script`` fails on it in
other toolkits, and tracing records exactly the ops that ran.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

from ..data.transforms import slowfast_indices
from ..modeling.classifier import ClipClassifier
from ..modeling.detector import ActionDetector
from ..modeling.roi_heads.feature_extractor import PooledFeatures
from ..modeling.roi_heads.postprocess import action_probabilities
from ..structures.boxes import extend_boxes

logger = logging.getLogger(__name__)

FORMATS = ("torchscript", "onnx")
DEFAULT_OPSET = 17  # torchvision exports roi_align from opset 11 (aligned=True only from 16; ours is aligned=False)

__all__ = [
    "FORMATS",
    "DEFAULT_OPSET",
    "ExportedClassifier",
    "ExportedDetector",
    "ExportResult",
    "exportable",
    "example_inputs",
    "export_model",
]


class ExportedClassifier(nn.Module):
    """``slow [B, 3, T_s, H, W]``, ``fast [B, 3, T_f, H, W]`` -> class probabilities ``[B, K]`` (softmax, or
    sigmoid for a multi-label head): what ``ClipClassifier`` returns in eval mode."""

    def __init__(self, model: ClipClassifier) -> None:
        super().__init__()
        self.model = model

    def forward(self, slow: Tensor, fast: Tensor) -> Tensor:
        return self.model.probabilities(self.model.logits(slow, fast).float())


class ExportedDetector(nn.Module):
    """``slow [1, 3, T_s, H, W]``, ``fast [1, 3, T_f, H, W]``, ``boxes [N, 4]`` xyxy in pixels of the ``H x W``
    input frames -> action probabilities ``[N, NUM_CLASSES]`` (softmax over the pose group, sigmoid after):
    what ``ActionDetector`` returns in eval mode for one clip whose image size is the input's (no padding).

    The same steps as the eager head (test-time box widening, ROI pooling, MLP, classifier), written without
    the per-clip list splits so that a trace keeps the number of boxes free.
    """

    def __init__(self, model: ActionDetector) -> None:
        super().__init__()
        head = model.roi_heads["action"]
        if head.feature_extractor.ia_structure is not None:
            raise ValueError(
                "export: the IA structure (MODEL.IA_STRUCTURE.ACTIVE True) is not exported - it needs "
                "object boxes and a memory pool from outside the model; export a baseline detector "
                "(MODEL.IA_STRUCTURE.ACTIVE False)"
            )
        self.backbone = model.backbone
        self.head = head

    def forward(self, slow: Tensor, fast: Tensor, boxes: Tensor) -> Tensor:
        height, width = slow.shape[3], slow.shape[4]
        features = self.backbone(slow, fast)
        widened = extend_boxes(boxes, self.head.test_extend, height, width, self.head.box_convention)
        pooled = self.head.feature_extractor.pool(features, [widened])
        hidden = self.head.feature_extractor.forward_pooled(PooledFeatures([pooled]))
        return action_probabilities(self.head.predictor(hidden), self.head.loss.groups.num_pose)


def exportable(model: nn.Module) -> nn.Module:
    """The export wrapper of ``model`` (a ``ClipClassifier`` or a baseline ``ActionDetector``), in eval mode."""
    if isinstance(model, ClipClassifier):
        wrapper = ExportedClassifier(model)
    elif isinstance(model, ActionDetector):
        wrapper = ExportedDetector(model)
    else:
        raise TypeError(f"export: {type(model).__name__} is neither a ClipClassifier nor an ActionDetector")
    return wrapper.eval()


def input_size(cfg: Any) -> tuple[int, int]:
    """``(H, W)`` of the frames the model sees at test time: ``CROP_SIZE`` squares for a classifier that crops,
    else short side ``MIN_SIZE_TEST`` of a 4:3 landscape frame (long side capped at ``MAX_SIZE_TEST``)."""
    inp = cfg.INPUT
    if cfg.MODEL.META_ARCHITECTURE == "ClipClassifier" and inp.CROP_SIZE > 0:
        return int(inp.CROP_SIZE), int(inp.CROP_SIZE)
    height = int(inp.MIN_SIZE_TEST)
    width = int(round(height * 4 / 3))
    if inp.MAX_SIZE_TEST:
        width = min(width, int(inp.MAX_SIZE_TEST))
    return height, width


def example_inputs(
    cfg: Any, detector: bool, size: tuple[int, int] | None = None, batch: int = 1, num_boxes: int = 3, seed: int = 0
) -> tuple[Tensor, ...]:
    """Random normalised inputs of the config's shapes: ``(slow, fast)`` for a classifier, ``(slow, fast, boxes)``
    for a detector (``num_boxes`` random boxes inside the frame; ``batch`` is 1 for a detector).

    ``T_s`` / ``T_f`` follow ``INPUT.FRAME_NUM``, ``TAU`` and ``ALPHA`` as the data pipeline samples them.
    """
    height, width = size or input_size(cfg)
    slow_idx, fast_idx = slowfast_indices(int(cfg.INPUT.FRAME_NUM), int(cfg.INPUT.TAU), int(cfg.INPUT.ALPHA))
    gen = torch.Generator().manual_seed(seed)
    batch = 1 if detector else batch
    slow = torch.randn(batch, 3, len(slow_idx), height, width, generator=gen)
    fast = torch.randn(batch, 3, len(fast_idx), height, width, generator=gen)
    if not detector:
        return slow, fast
    corners = torch.rand(num_boxes, 2, 2, generator=gen) * torch.tensor([width, height], dtype=torch.float32)
    boxes = torch.cat([corners.min(dim=1).values, corners.max(dim=1).values + 1.0], dim=1)
    boxes = torch.minimum(boxes, torch.tensor([width, height, width, height], dtype=torch.float32))
    return slow, fast, boxes


@dataclass
class ExportResult:
    """What :func:`export_model` wrote and measured.

    Attributes:
        path: the exported file.
        fmt: ``"torchscript"`` or ``"onnx"``.
        input_names, output_name: of the exported graph (ONNX names; TorchScript takes them positionally).
        input_shapes: per input, its shape on the export example.
        max_abs_diff: ``{description of the input: max |exported - eager|}`` over the outputs.
    """

    path: str
    fmt: str
    input_names: list[str]
    output_name: str
    input_shapes: dict[str, list[int]]
    max_abs_diff: dict[str, float] = field(default_factory=dict)


def _describe(inputs: tuple[Tensor, ...], detector: bool) -> str:
    return f"{inputs[2].shape[0]} boxes" if detector else f"batch {inputs[0].shape[0]}"


def eager_outputs(model: nn.Module, inputs: tuple[Tensor, ...]) -> Tensor:
    """The model's own eval forward on export inputs (the reference the export is compared with)."""
    if isinstance(model, ActionDetector):
        slow, fast, boxes = inputs
        return model(slow, fast, [boxes], [(slow.shape[3], slow.shape[4])])[0]
    return model(*inputs)


def _onnx_runner(path: str, names: list[str]):
    try:
        import onnxruntime
    except ImportError as e:
        raise ImportError("export: checking an ONNX file needs onnxruntime (pip install onnxruntime)") from e
    session = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
    return lambda inputs: torch.from_numpy(session.run(None, {n: t.numpy() for n, t in zip(names, inputs)})[0])


@torch.no_grad()
def export_model(
    model: nn.Module,
    cfg: Any,
    fmt: str,
    out: str,
    opset: int = DEFAULT_OPSET,
    size: tuple[int, int] | None = None,
    num_boxes: tuple[int, int] | None = None,
) -> ExportResult:
    """Export ``model`` (built from ``cfg``, weights loaded) to ``out`` and compare with the eager model. The
    export runs on the CPU: ``model`` is moved there and left in eval mode.

    Args:
        fmt: ``"torchscript"`` (``torch.jit.trace`` with ``check_trace`` on a second input) or ``"onnx"``
            (``torch.onnx.export``, TorchScript-based exporter, ``opset``; dynamic number of boxes for a detector,
            dynamic batch for a classifier; checked with onnxruntime).
        size: ``(H, W)`` of the input frames (default :func:`input_size`); fixed in the export.
        num_boxes: boxes of the export example and of the second check input (detector; default 3 and 5), or
            their batch sizes (classifier; default 1 and 2).

    Returns:
        :class:`ExportResult`, with the max abs difference between the exported and eager outputs on the export
        example and on a second input of another number of boxes (or batch size).
    """
    if fmt not in FORMATS:
        raise ValueError(f"export: format {fmt!r}: use one of {FORMATS}")
    model = model.cpu().eval()
    wrapper = exportable(model)
    detector = isinstance(wrapper, ExportedDetector)
    counts = tuple(num_boxes) if num_boxes else (3, 5) if detector else (1, 2)
    if len(counts) != 2 or min(counts) < 1 or counts[0] == counts[1]:
        raise ValueError(f"export: num_boxes={counts}: give two different counts >= 1")
    first, second = (example_inputs(cfg, detector, size, batch=n, num_boxes=n, seed=i) for i, n in enumerate(counts))
    names = ["slow", "fast", "boxes"] if detector else ["slow", "fast"]
    output = "action_probs" if detector else "class_probs"
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    if fmt == "torchscript":
        traced = torch.jit.trace(wrapper, first, check_trace=True, check_inputs=[second])
        traced.save(out)
        loaded = torch.jit.load(out)
        run = lambda inputs: loaded(*inputs)  # noqa: E731
    else:
        dynamic = (
            {"boxes": {0: "num_boxes"}, output: {0: "num_boxes"}}
            if detector
            else {"slow": {0: "batch"}, "fast": {0: "batch"}, output: {0: "batch"}}
        )
        torch.onnx.export(
            wrapper,
            first,
            out,
            dynamo=False,
            opset_version=int(opset),
            input_names=names,
            output_names=[output],
            dynamic_axes=dynamic,
        )
        run = _onnx_runner(out, names)
    result = ExportResult(os.path.abspath(out), fmt, names, output, {n: list(t.shape) for n, t in zip(names, first)})
    for label, inputs in (("same input", first), ("other input", second)):
        diff = (run(inputs).float() - eager_outputs(model, inputs).float()).abs().max().item()
        result.max_abs_diff[f"{label} ({_describe(inputs, detector)})"] = diff
    logger.info("Exported %s to %s; max abs diff to eager: %s", type(model).__name__, out, result.max_abs_diff)
    return result
