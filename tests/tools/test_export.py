"""tools/export.py: the traced TorchScript / ONNX models give the eager model's outputs.

The reference is the model's own eval forward (``ActionDetector(slow, fast, [boxes], [(H, W)])``,
``ClipClassifier(slow, fast)``) on inputs the export never saw (another number of boxes / batch size), run on a
model whose classifier weights are scaled up so that the outputs differ from box to box (an all-0.5 output
would match anything).
"""

from __future__ import annotations

import json
import os

import pytest
import torch

from alphaction.apis.export import example_inputs, export_model
from alphaction.checkpoint import Checkpointer
from alphaction.config import get_cfg
from alphaction.engine.defaults import REPO_ROOT
from alphaction.modeling import build_model
from alphaction.utils.errors import run_cli
from tools import export as export_tool

DETECTOR_BASE = os.path.join(REPO_ROOT, "config_files/quick_schedules/synthetic_tiny_r14.yaml")
CLASSIFIER_BASE = os.path.join(REPO_ROOT, "config_files/classification/synthetic_clips_r14_cpu.yaml")
# small inputs: 8 frames (slow 2, fast 8) of 64x96
SMALL = "INPUT:\n  MIN_SIZE_TEST: 64\n  MAX_SIZE_TEST: 96\n  FRAME_NUM: 8\n"
CLASSIFIER_SMALL = SMALL + "MODEL:\n  BACKBONE:\n    WIDTH_MULT: 0.125\n"


def _job(tmp_path, base: str, extra: str, name: str):
    """A config (YAML inheriting ``base``) and a checkpoint of a random model with sharpened outputs."""
    config = tmp_path / f"{name}.yaml"
    config.write_text(f'_BASE_: "{base}"\n{extra}')
    cfg = get_cfg()
    cfg.merge_from_file(str(config))
    torch.manual_seed(0)
    model = build_model(cfg).eval()
    linear = model.head.proj if name == "classifier" else model.roi_heads["action"].predictor.cls_score
    # std 0.01 at init gives near-uniform outputs; these spreads keep the probabilities away from 0 / 1
    torch.nn.init.normal_(linear.weight, std=0.2 if name == "classifier" else 2.0)
    Checkpointer(model, save_dir=str(tmp_path)).save(name)
    return str(config), str(tmp_path / f"{name}.pth"), cfg, model


@pytest.fixture(scope="module")
def detector_job(tmp_path_factory):
    return _job(tmp_path_factory.mktemp("det"), DETECTOR_BASE, SMALL, "detector")


@pytest.fixture(scope="module")
def classifier_job(tmp_path_factory):
    return _job(tmp_path_factory.mktemp("cls"), CLASSIFIER_BASE, CLASSIFIER_SMALL, "classifier")


def _detector_input(cfg, num_boxes: int, seed: int):
    slow, fast, boxes = example_inputs(cfg, detector=True, num_boxes=num_boxes, seed=seed)
    # one box reaching past the frame: the test-time widening must clip it as the eager head does
    boxes[0] = torch.tensor([-10.0, 5.0, slow.shape[4] + 20.0, slow.shape[3] - 2.0])
    return slow, fast, boxes


def _eager_detector(model, slow, fast, boxes):
    with torch.no_grad():
        return model(slow, fast, [boxes], [(slow.shape[3], slow.shape[4])])[0]


def _run_tool(config, checkpoint, fmt, out, tmp_path, *extra):
    report = tmp_path / f"{os.path.basename(out)}.json"
    assert export_tool.main([config, checkpoint, out, "--format", fmt, "--json", str(report), *extra]) == 0
    return json.loads(report.read_text())


def test_torchscript_detector_equals_eager(detector_job, tmp_path):
    config, checkpoint, cfg, model = detector_job
    out = str(tmp_path / "detector.pt")
    report = _run_tool(config, checkpoint, "torchscript", out, tmp_path)
    assert report["inputs"] == {"slow": [1, 3, 2, 64, 85], "fast": [1, 3, 8, 64, 85], "boxes": [3, 4]}
    assert set(report["max_abs_diff"]) == {"same input (3 boxes)", "other input (5 boxes)"}
    assert max(report["max_abs_diff"].values()) < 1e-5
    traced = torch.jit.load(out)
    for num_boxes in (1, 4, 7):  # the trace saw 3 and 5
        slow, fast, boxes = _detector_input(cfg, num_boxes, seed=10 + num_boxes)
        expected = _eager_detector(model, slow, fast, boxes)
        got = traced(slow, fast, boxes)
        assert got.shape == (num_boxes, cfg.MODEL.ROI_ACTION_HEAD.NUM_CLASSES)
        torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-4)
        if num_boxes > 1:
            assert (expected[0] - expected[1]).abs().max() > 1e-3  # the boxes matter: the check is not vacuous
    # rows follow the boxes: reversing the boxes reverses the rows
    torch.testing.assert_close(traced(slow, fast, boxes.flip(0)), expected.flip(0), atol=1e-5, rtol=1e-4)


def test_torchscript_classifier_equals_eager(classifier_job, tmp_path):
    config, checkpoint, cfg, model = classifier_job
    out = str(tmp_path / "classifier.pt")
    report = _run_tool(config, checkpoint, "torchscript", out, tmp_path)
    assert report["inputs"]["slow"] == [1, 3, 2, 64, 85] and report["output"] == "class_probs"
    assert max(report["max_abs_diff"].values()) < 1e-5
    slow, fast = example_inputs(cfg, detector=False, batch=3, seed=7)
    with torch.no_grad():
        expected = model(slow, fast)
    got = torch.jit.load(out)(slow, fast)
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(got.sum(dim=1), torch.ones(3))  # softmax probabilities
    assert (expected[0] - expected[1]).abs().max() > 1e-3


def test_onnx_detector_and_classifier_equal_eager(detector_job, classifier_job, tmp_path):
    try:  # not pytest.importorskip: a broken install (ImportError, not ModuleNotFoundError) skips too
        import onnx
        import onnxruntime as ort
    except ImportError as e:
        pytest.skip(f"ONNX export check needs onnx and onnxruntime (pip install -e '.[export]'): {e}")
    config, checkpoint, cfg, model = detector_job
    out = str(tmp_path / "detector.onnx")
    report = _run_tool(config, checkpoint, "onnx", out, tmp_path, "--opset", "17")
    assert report["opset"] == 17 and max(report["max_abs_diff"].values()) < 1e-5
    proto = onnx.load(out)
    onnx.checker.check_model(proto)
    assert max(o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")) == 17
    session = ort.InferenceSession(out, providers=["CPUExecutionProvider"])
    for num_boxes in (1, 6):  # the dynamic box axis: neither count was exported
        slow, fast, boxes = _detector_input(cfg, num_boxes, seed=20 + num_boxes)
        got = session.run(None, {"slow": slow.numpy(), "fast": fast.numpy(), "boxes": boxes.numpy()})[0]
        torch.testing.assert_close(
            torch.from_numpy(got), _eager_detector(model, slow, fast, boxes), atol=1e-5, rtol=1e-4
        )

    config, checkpoint, cfg, model = classifier_job
    out = str(tmp_path / "classifier.onnx")
    _run_tool(config, checkpoint, "onnx", out, tmp_path)
    session = ort.InferenceSession(out, providers=["CPUExecutionProvider"])
    slow, fast = example_inputs(cfg, detector=False, batch=3, seed=8)  # the dynamic batch axis
    with torch.no_grad():
        expected = model(slow, fast)
    got = session.run(None, {"slow": slow.numpy(), "fast": fast.numpy()})[0]
    torch.testing.assert_close(torch.from_numpy(got), expected, atol=1e-5, rtol=1e-4)


def test_ia_detector_is_refused(tmp_path, capsys):
    config = tmp_path / "ia.yaml"
    config.write_text(
        f'_BASE_: "{os.path.join(REPO_ROOT, "config_files/quick_schedules/synthetic_tiny_r14_ia.yaml")}"\n' + SMALL
    )
    assert run_cli(export_tool.main, [str(config), "none", str(tmp_path / "ia.pt"), "--format", "torchscript"]) == 2
    assert "IA structure" in capsys.readouterr().err
    assert not (tmp_path / "ia.pt").exists()


def test_bad_counts_and_format_are_refused(detector_job, tmp_path):
    _, _, cfg, model = detector_job
    with pytest.raises(ValueError, match="two different counts"):
        export_model(model, cfg, "torchscript", str(tmp_path / "x.pt"), num_boxes=(3, 3))
    with pytest.raises(ValueError, match="format 'tflite'"):
        export_model(model, cfg, "tflite", str(tmp_path / "x.pt"))


@pytest.mark.parametrize(
    "overrides",
    [["MODEL.ROI_ACTION_HEAD.POOLER_TYPE", "pooling3d"], ["MODEL.ROI_ACTION_HEAD.MEAN_BEFORE_POOLER", False]],
)
def test_torchscript_detector_pooler_variants(detector_job, tmp_path, overrides):
    """ROIPool, and pooling every frame before the time average (boxes repeated per frame): the box count stays
    free in the trace."""
    config = detector_job[0]
    cfg = get_cfg()
    cfg.merge_from_file(config)
    cfg.merge_from_list(overrides)
    torch.manual_seed(1)
    model = build_model(cfg).eval()
    torch.nn.init.normal_(model.roi_heads["action"].predictor.cls_score.weight, std=2.0)
    result = export_model(model, cfg, "torchscript", str(tmp_path / "variant.pt"))
    assert max(result.max_abs_diff.values()) < 1e-5
    slow, fast, boxes = _detector_input(cfg, 4, seed=3)
    expected = _eager_detector(model, slow, fast, boxes)
    torch.testing.assert_close(
        torch.jit.load(str(tmp_path / "variant.pt"))(slow, fast, boxes), expected, atol=1e-5, rtol=1e-4
    )
    assert (expected[0] - expected[1]).abs().max() > 1e-3
