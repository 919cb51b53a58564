"""Range and type checks of config values, run once at start-up (``engine.defaults.setup``) so a bad value stops
the run before anything is built, with the key, the value, what is allowed and what to do.

The builders check what only they can (the class groups against NUM_CLASSES, the IA widths against the backbone);
this module checks every key whose allowed values do not depend on anything else, and a few pairs that belong
together (warm-up against the schedule, TAU against ALPHA).
"""

from __future__ import annotations

import logging
import math
from typing import Any, Callable

from ..utils.errors import ConfigValueError

logger = logging.getLogger(__name__)


def _get(cfg: Any, key: str) -> Any:
    node = cfg
    for part in key.split("."):
        node = node[part]
    return node


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


# key -> (test, what is allowed, an example of a good value)
_RANGES: dict[str, tuple[Callable[[Any], bool], str, str]] = {}


def _rule(keys: str, test: Callable[[Any], bool], allowed: str, example: str) -> None:
    for key in keys.split():
        _RANGES[key] = (test, allowed, example)


def _at_least(minimum: float) -> Callable[[Any], bool]:
    return lambda v: _number(v) and v >= minimum


def _positive(v: Any) -> bool:
    return _number(v) and v > 0


def _one_of(*choices: str) -> Callable[[Any], bool]:
    return lambda v: v in choices


_rule("SOLVER.MAX_ITER", _at_least(1), "an integer >= 1 (training iterations)", "SOLVER.MAX_ITER 90000")
_rule("SOLVER.VIDEOS_PER_BATCH TEST.VIDEOS_PER_BATCH", _at_least(1), "an integer >= 1 (clips, global)", "16")
_rule("SOLVER.BASE_LR", _positive, "a number > 0", "SOLVER.BASE_LR 0.0004")
_rule("SOLVER.BIAS_LR_FACTOR SOLVER.IA_LR_FACTOR SOLVER.BACKBONE_LR_FACTOR", _at_least(0), "a number >= 0", "1.0")
_rule("SOLVER.MOMENTUM", lambda v: _number(v) and 0 <= v < 1, "a number in [0, 1)", "SOLVER.MOMENTUM 0.9")
_rule("SOLVER.WEIGHT_DECAY SOLVER.WEIGHT_DECAY_BIAS SOLVER.WEIGHT_DECAY_BN", _at_least(0), "a number >= 0", "1e-7")
_rule("SOLVER.GAMMA", _positive, "a number > 0 (lr factor at each step)", "SOLVER.GAMMA 0.1")
_rule("SOLVER.WARMUP_FACTOR", lambda v: _number(v) and 0 < v <= 1, "a number in (0, 1]", "SOLVER.WARMUP_FACTOR 0.25")
_rule("SOLVER.WARMUP_ITERS", _at_least(0), "an integer >= 0", "SOLVER.WARMUP_ITERS 2000")
_rule("SOLVER.LOG_PERIOD SOLVER.GRAD_ACCUM_STEPS", _at_least(1), "an integer >= 1", "20")
_rule(
    "SOLVER.CHECKPOINT_PERIOD SOLVER.EVAL_PERIOD SOLVER.CHECKPOINT_KEEP SOLVER.EARLY_STOP_PATIENCE "
    "SOLVER.FREEZE_STAGES",
    _at_least(0),
    "an integer >= 0",
    "0",
)
_rule(
    "SOLVER.EPOCHS SOLVER.WARMUP_EPOCHS SOLVER.CLIP_GRAD_NORM SOLVER.EARLY_STOP_MIN_DELTA",
    _at_least(0),
    "a number >= 0",
    "0",
)
_rule("SOLVER.OPTIMIZER", _one_of("SGD", "Adam", "AdamW"), "SGD, Adam or AdamW", "SOLVER.OPTIMIZER SGD")
_rule(
    "SOLVER.SCHEDULER",
    _one_of("warmup_multi_step", "half_period_cosine"),
    "warmup_multi_step or half_period_cosine",
    "SOLVER.SCHEDULER warmup_multi_step",
)
_rule("SOLVER.WARMUP_METHOD", _one_of("linear", "constant"), "linear or constant", "SOLVER.WARMUP_METHOD linear")
_rule("SOLVER.AMP", _one_of("off", "bf16", "fp16"), "off, bf16 or fp16", "SOLVER.AMP off")
_rule(
    "INPUT.FRAME_NUM INPUT.FRAME_SAMPLE_RATE INPUT.TAU INPUT.ALPHA INPUT.NUM_CLIPS_TEST",
    _at_least(1),
    "an integer >= 1",
    "INPUT.FRAME_NUM 64",
)
_rule("INPUT.MIN_SIZE_TRAIN INPUT.MIN_SIZE_TEST", _at_least(1), "an integer >= 1 (pixels)", "256")
_rule(
    "INPUT.MAX_SIZE_TRAIN INPUT.MAX_SIZE_TEST INPUT.CROP_SIZE",
    _at_least(0),
    "an integer >= 0 (pixels; 0 = none)",
    "464",
)
_rule("INPUT.NUM_CROPS_TEST", _one_of(1, 3), "1 or 3", "INPUT.NUM_CROPS_TEST 1")
_rule("INPUT.HUE_JITTER INPUT.SAT_JITTER INPUT.VAL_JITTER", _at_least(0), "a number >= 0", "0.1")
_rule(
    "INPUT.CLIP_FPS", _at_least(0), "a number >= 0 (frames per second; 0 = the files' own frames)", "INPUT.CLIP_FPS 30"
)
_rule(
    "INPUT.BOX_CONVENTION",
    _one_of("continuous", "alphaction"),
    "continuous or alphaction",
    "INPUT.BOX_CONVENTION continuous",
)
_rule("DATALOADER.NUM_WORKERS DATALOADER.SIZE_DIVISIBILITY", _at_least(0), "an integer >= 0", "4")
_rule("DATALOADER.PREFETCH_FACTOR", _at_least(1), "an integer >= 1", "2")
_rule("DATALOADER.ON_BAD_SAMPLE", _one_of("error", "skip"), "error or skip", "DATALOADER.ON_BAD_SAMPLE error")
_rule("TEST.BOX_THRESH TEST.ACTION_THRESH", lambda v: _number(v) and 0 <= v <= 1, "a number in [0, 1]", "0.8")
_rule(
    "MODEL.ROI_ACTION_HEAD.NUM_CLASSES MODEL.CLIP_HEAD.NUM_CLASSES MODEL.ROI_ACTION_HEAD.PROPOSAL_PER_CLIP",
    _at_least(1),
    "an integer >= 1",
    "80",
)
_rule(
    "MODEL.ROI_ACTION_HEAD.DROPOUT_RATE MODEL.CLIP_HEAD.DROPOUT_RATE MODEL.IA_STRUCTURE.DROPOUT",
    lambda v: _number(v) and 0 <= v < 1,
    "a number in [0, 1)",
    "0.2",
)
_rule(
    "MODEL.IA_STRUCTURE.MEMORY_TEST_MODE",
    _one_of("offline", "online", "none"),
    "offline, online or none",
    "MODEL.IA_STRUCTURE.MEMORY_TEST_MODE offline",
)


def _fail(key: str, value: Any, allowed: str, fix: str) -> ConfigValueError:
    return ConfigValueError(f"{key} = {value!r} is not allowed: {allowed}", where=f"config key {key}", fix=fix)


def check_config(cfg: Any, train: bool = True) -> list[str]:
    """Raise :class:`ConfigValueError` for the first key outside its range; return warnings (also logged) for
    values that are allowed but likely wrong. ``train`` False skips the solver's schedule checks."""
    for key, (test, allowed, example) in _RANGES.items():
        if not train and key.startswith("SOLVER."):
            continue
        value = _get(cfg, key)
        if not test(value):
            good = example if " " in example else f"{key} {example}"
            raise _fail(key, value, allowed, f"set it on the command line or in the config, e.g. {good}")
    for key in ("INPUT.PIXEL_MEAN", "INPUT.PIXEL_STD"):
        value = list(_get(cfg, key))
        if len(value) != 3 or not all(_number(v) for v in value) or (key.endswith("STD") and min(value) <= 0):
            raise _fail(
                key,
                value,
                "three numbers (R, G, B on the 0-255 scale)" + (", each > 0" if "STD" in key else ""),
                f"e.g. {key} [57.375, 57.375, 57.375]",
            )
    if cfg.INPUT.TAU % cfg.INPUT.ALPHA:
        raise ConfigValueError(
            f"INPUT.TAU = {cfg.INPUT.TAU} is not a multiple of INPUT.ALPHA = {cfg.INPUT.ALPHA}",
            where="config keys INPUT.TAU / INPUT.ALPHA",
            fix="the fast pathway takes every (TAU / ALPHA)-th frame: e.g. TAU 16 ALPHA 8, or 8 / 4",
        )
    scale = list(cfg.TEST.EXTEND_SCALE)
    if len(scale) != 2 or not all(_number(v) and v >= 0 for v in scale):
        raise _fail(
            "TEST.EXTEND_SCALE", scale, "two numbers >= 0 (width, height)", "e.g. TEST.EXTEND_SCALE (0.1, 0.05)"
        )
    warnings = []
    if train:
        warnings += _schedule_warnings(cfg)
    for text in warnings:
        logger.warning(text)
    return warnings


def _schedule_warnings(cfg: Any) -> list[str]:
    sol = cfg.SOLVER
    if sol.EPOCHS > 0:  # the iteration keys are derived later
        return []
    out = []
    steps = list(sol.STEPS)
    if any(not _number(s) or s < 0 for s in steps) or steps != sorted(steps):
        raise _fail(
            "SOLVER.STEPS",
            tuple(steps),
            "increasing iteration numbers >= 0",
            f"e.g. SOLVER.STEPS '({int(sol.MAX_ITER * 0.6)}, {int(sol.MAX_ITER * 0.8)})'",
        )
    if sol.WARMUP_ON and sol.WARMUP_ITERS > sol.MAX_ITER:
        out.append(
            f"SOLVER.WARMUP_ITERS = {sol.WARMUP_ITERS} is longer than SOLVER.MAX_ITER = {sol.MAX_ITER}: the "
            "learning rate never reaches SOLVER.BASE_LR; shorten the warm-up (e.g. SOLVER.WARMUP_ITERS "
            f"{max(1, sol.MAX_ITER // 10)})"
        )
    late = [s for s in steps if s >= sol.MAX_ITER]
    if sol.SCHEDULER == "warmup_multi_step" and late:
        out.append(f"SOLVER.STEPS {tuple(steps)}: {late} at or after SOLVER.MAX_ITER = {sol.MAX_ITER} never happen")
    return out
