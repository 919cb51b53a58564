"""Saving and loading checkpoints: atomic writes, resume, and a loud report of what did and did not load."""

from __future__ import annotations

import logging
import os
import pickle
import re
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from ..utils.errors import UserError
from ..utils.io import atomic_torch_save, atomic_write_text
from .convert import CONVERTERS, ConversionError, config_overrides, detect_format, extract_state_dict, format_table

logger = logging.getLogger(__name__)

LAST_CHECKPOINT = "last_checkpoint"
PERIODIC = re.compile(r"model_(\d{7})\.pth")
PURPOSES = ("finetune", "test", "resume")
_METADATA = ("converted_from", "backbone_only", "backbone_config")


class CheckpointError(UserError, RuntimeError):
    """A checkpoint that cannot be used as asked; the message names the file and the keys."""


class CorruptCheckpointError(CheckpointError):
    """The file is truncated or not a checkpoint at all (resume falls back to an older one)."""


def strip_prefix(state_dict: dict[str, Any], prefix: str = "module.") -> dict[str, Any]:
    """Drop ``prefix`` from keys when every key has it (DDP checkpoints)."""
    if state_dict and all(k.startswith(prefix) for k in state_dict):
        return {k[len(prefix) :]: v for k, v in state_dict.items()}
    return state_dict


def strip_wrappers(state_dict: dict[str, Any]) -> dict[str, Any]:
    """Remove what DDP (``module.``) and ``torch.compile`` (``_orig_mod.``, at the front or on a submodule) add."""
    state = {k.replace("._orig_mod.", "."): v for k, v in state_dict.items()}
    previous = None
    while previous is not state:
        previous = state
        state = strip_prefix(strip_prefix(state, "module."), "_orig_mod.")
    return state


@dataclass
class LoadReport:
    """Keys of one load: ``loaded``, ``missing`` (model keys left at their initial value), ``unexpected``
    (checkpoint keys the model lacks), ``shape_mismatch`` ((key, checkpoint shape, model shape)) and
    ``skipped`` (checkpoint keys left out on purpose by ``--no-head``)."""

    loaded: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    shape_mismatch: list[tuple[str, tuple, tuple]] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)

    def __getitem__(self, name: str) -> list:  # report["missing"] reads like the old dict report
        return getattr(self, name)

    def table(self, depth: int = 3) -> str:
        """One row per module prefix (first ``depth`` name parts) with the count of each outcome."""
        rows: dict[str, list[int]] = defaultdict(lambda: [0] * 5)
        columns = (self.loaded, self.missing, self.unexpected, [k for k, _, _ in self.shape_mismatch], self.skipped)
        for col, keys in enumerate(columns):
            for k in keys:
                rows[".".join(k.split(".")[:depth])][col] += 1
        width = max([len(p) for p in rows] + [6])
        lines = [f"  {'prefix':<{width}}  loaded  missing  unexpected  wrong-shape  skipped"]
        for prefix in sorted(rows):
            a, b, c, d, e = rows[prefix]
            lines.append(f"  {prefix:<{width}}  {a:6d}  {b:7d}  {c:10d}  {d:11d}  {e:7d}")
        return "\n".join(lines)


def match_state_dict(
    model_state: dict[str, torch.Tensor],
    loaded: dict[str, torch.Tensor],
    skip_prefixes: tuple[str, ...] = (),
) -> tuple[dict[str, torch.Tensor], LoadReport]:
    """Pick the loaded tensors that fit the model by exact key and shape (no suffix matching), and report the rest."""
    # trainable-BN checkpoints carry num_batches_tracked; a frozen-BN model has no such key and needs none
    loaded = {k: v for k, v in loaded.items() if not k.endswith("num_batches_tracked") or k in model_state}
    report = LoadReport()
    to_load = {}
    for k, v in loaded.items():
        if any(k.startswith(p) for p in skip_prefixes):
            report.skipped.append(k)
        elif k not in model_state:
            report.unexpected.append(k)
        elif tuple(v.shape) != tuple(model_state[k].shape):
            report.shape_mismatch.append((k, tuple(v.shape), tuple(model_state[k].shape)))
        else:
            to_load[k] = v
    report.loaded = list(to_load)
    report.missing = [k for k in model_state if k not in to_load]
    return to_load, report


def _keys(keys: list[str], limit: int = 12) -> str:
    shown = ", ".join(keys[:limit])
    return shown + (f", ... ({len(keys) - limit} more)" if len(keys) > limit else "")


_CORRUPT_FIX = (
    "copy or download the file again (compare its size with the source); a run's own checkpoint: "
    "delete it, and last_checkpoint falls back to the one before"
)


# scheduler state that only says where the schedule is, not what it is
_SCHEDULE_POSITION = {"last_epoch", "_step_count", "_last_lr", "_get_lr_called_within_step", "verbose", "_is_initial"}


def _schedule_changes(current: dict, saved: dict) -> list[str]:
    """Names of the schedule settings (base lrs, steps, gamma, warm-up, length) that differ between the scheduler
    built from the config and the one saved in a checkpoint."""
    out = []
    for key in sorted((set(current) | set(saved)) - _SCHEDULE_POSITION):
        a, b = current.get(key), saved.get(key)
        if key == "base_lrs" and a is not None and b is not None and len(a) == len(b):
            if any(abs(x - y) > 1e-12 * max(abs(x), abs(y), 1e-30) for x, y in zip(a, b)):
                out.append(f"base lr {b[0]:.6g} -> {a[0]:.6g}")
        elif a != b and not (isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)) and list(a) == list(b)):
            out.append(f"{key} {b} -> {a}")
    return out


def _is_raw_pickle(path: str) -> bool:
    """A plain pickle stream (protocol 2+ starts with PROTO, 0x80, then the protocol number), not garbage."""
    with open(path, "rb") as f:
        head = f.read(2)
    return len(head) == 2 and head[0] == 0x80 and 2 <= head[1] <= 5


def read_checkpoint(path: str) -> dict[str, Any]:
    """``torch.load(path, weights_only=True)`` with errors that say what is wrong with the file."""
    if not os.path.isfile(path):
        raise CheckpointError(
            f"checkpoint not found: {path}",
            where="MODEL.WEIGHT or OUTPUT_DIR/last_checkpoint",
            fix="give the path of a local .pth file (nothing is downloaded), e.g. "
            "MODEL.WEIGHT data/models/pretrained_models/SlowFast-ResNet50-4x16.pth",
        )
    if path.endswith(".pkl"):
        raise CheckpointError(
            f"{path} is a pickle (a Caffe2 .pkl?): pickles can run code, so they are only read by the converter, "
            f"which accepts numpy arrays only: python tools/convert_checkpoint.py --from caffe2 {path} OUT.pth"
        )
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        text = str(e)
        found = re.search(r"GLOBAL (\S+)", text)
        if found or ("Unsupported operand" in text and _is_raw_pickle(path)):
            holds = f"a pickled Python object ({found.group(1)})" if found else "pickled Python objects"
            raise CheckpointError(
                f"{path} holds {holds}, not only tensors and plain containers: loading it could run arbitrary code, "
                "so it was refused for safety (torch.load weights_only=True)",
                where="MODEL.WEIGHT",
                fix="if you trust the file, re-save its weights alone where it was made: "
                "sd = torch.load(PATH, weights_only=False)['model']; torch.save({'model': sd}, NEW_PATH); "
                "then use NEW_PATH",
            ) from None
        raise CorruptCheckpointError(
            f"{path} is truncated or corrupt ({text.splitlines()[0][:200]})", where="MODEL.WEIGHT", fix=_CORRUPT_FIX
        ) from None
    except (RuntimeError, EOFError, KeyError, ValueError, OSError) as e:
        raise CorruptCheckpointError(
            f"{path} is truncated or corrupt and cannot be read ({type(e).__name__}: "
            f"{str(e).splitlines()[0][:200] if str(e) else 'unexpected end of file'})",
            where="MODEL.WEIGHT",
            fix=_CORRUPT_FIX,
        ) from None
    if not isinstance(data, dict):
        raise CheckpointError(f"{path}: expected a dict (a state dict or {{'model': ...}}), got {type(data).__name__}")
    return data


class Checkpointer:
    """Save / load / resume a model with its optimizer and scheduler.

    Files: ``save_dir/<name>.pth`` holding ``{"model", "optimizer", "scheduler", "iteration", ...}`` and
    ``save_dir/last_checkpoint`` holding the latest file name. Writes go to a temporary file, are flushed to
    disk and renamed into place, so an interrupted save never leaves a truncated checkpoint under its name.

    Args:
        head_prefixes: state-dict prefixes of the model's class-specific head (what ``no_head`` leaves out); the
            model declares them, this class knows no names of its own.
        keep_last: keep only the newest this many periodic ``model_XXXXXXX.pth`` files (0 = all).
        addon_prefixes: state-dict prefixes of optional modules added on top of a plain model (the IA structure
            on the baseline head). A finetune from a checkpoint holding none of an add-on's keys (a baseline
            checkpoint into an IA model) starts that add-on from its initialisation instead of failing; a
            checkpoint holding only part of an add-on still fails.
    """

    def __init__(
        self,
        model: nn.Module,
        optimizer=None,
        scheduler=None,
        save_dir: str = "",
        save_to_disk: bool = True,
        head_prefixes: tuple[str, ...] = (),
        keep_last: int = 0,
        addon_prefixes: tuple[str, ...] = (),
    ) -> None:
        self.model = model
        self.optimizer = optimizer
        self.scheduler = scheduler
        self.save_dir = save_dir
        self.save_to_disk = save_to_disk
        self.head_prefixes = tuple(head_prefixes)
        self.keep_last = int(keep_last)
        self.schedule_rebuilt = False  # set by a load that put the LR schedule at the current SOLVER settings
        self.addon_prefixes = tuple(addon_prefixes)
        self.report: LoadReport | None = None  # the report of the latest load
        # the latest loaded file's entries besides the weights, optimizer and scheduler (e.g. class_names)
        self.loaded_info: dict[str, Any] = {}

    def _module(self) -> nn.Module:
        return self.model.module if hasattr(self.model, "module") else self.model

    # --- saving ----------------------------------------------------------------------------------------------
    def save(self, name: str, **extra: Any) -> str | None:
        """``save_dir/name.pth`` with the weights, optimizer, scheduler and ``extra``; it becomes the checkpoint a
        resume loads (``last_checkpoint``) and older periodic ones are pruned. None when this process saves
        nothing."""
        data = {}
        if self.optimizer is not None:
            data["optimizer"] = self.optimizer.state_dict()
        if self.scheduler is not None:
            data["scheduler"] = self.scheduler.state_dict()
        path = self.save_weights(name, **data, **extra)
        if path is None:
            return None
        self._write_last(os.path.basename(path))
        logger.info("Saved checkpoint to %s", path)
        self._prune()
        return path

    def save_weights(self, name: str, **extra: Any) -> str | None:
        """``save_dir/name.pth`` with the model's weights and ``extra`` (e.g. ``model_best.pth``), written
        atomically; ``last_checkpoint`` is left as it is. None when this process saves nothing."""
        if not (self.save_dir and self.save_to_disk):
            return None
        path = os.path.join(self.save_dir, f"{name}.pth")
        try:
            atomic_torch_save({"model": self._module().state_dict(), **extra}, path)  # complete files only
        except (OSError, RuntimeError) as e:  # disk full, quota, unwritable folder (torch wraps some as RuntimeError)
            last = self.last_checkpoint_name()
            raise CheckpointError(
                f"could not write {path}: {e}. The previous checkpoint ({last or 'none'}) is intact; free space in "
                f"or fix the permissions of OUTPUT_DIR ({self.save_dir}), then rerun the same command to resume"
            ) from e
        return path

    def last_checkpoint_name(self) -> str | None:
        """The name recorded in ``save_dir/last_checkpoint`` (not checked to exist), or None without that file."""
        path = os.path.join(self.save_dir, LAST_CHECKPOINT) if self.save_dir else ""
        if not path or not os.path.isfile(path):
            return None
        with open(path, encoding="utf-8") as f:
            return f.read().strip()

    def set_last_checkpoint(self, path: str | None) -> None:
        """Make ``path`` (a file in ``save_dir``) the checkpoint a rerun resumes from; None removes
        ``last_checkpoint`` (a rerun starts from MODEL.WEIGHT)."""
        if path is None:
            last = os.path.join(self.save_dir, LAST_CHECKPOINT)
            if os.path.isfile(last):
                os.remove(last)
            return
        self._write_last(os.path.relpath(path, self.save_dir))

    def _write_last(self, filename: str) -> None:
        atomic_write_text(os.path.join(self.save_dir, LAST_CHECKPOINT), filename)

    def periodic_checkpoints(self) -> list[str]:
        """``model_XXXXXXX.pth`` files in ``save_dir``, oldest iteration first."""
        if not self.save_dir or not os.path.isdir(self.save_dir):
            return []
        names = sorted((int(m.group(1)), n) for n in os.listdir(self.save_dir) if (m := PERIODIC.fullmatch(n)))
        return [os.path.join(self.save_dir, n) for _, n in names]

    def _prune(self) -> None:
        if self.keep_last <= 0:
            return
        for old in self.periodic_checkpoints()[: -self.keep_last]:
            os.remove(old)
            logger.info("Removed %s (SOLVER.CHECKPOINT_KEEP=%d)", old, self.keep_last)

    # --- resuming --------------------------------------------------------------------------------------------
    def last_checkpoint(self) -> str | None:
        """The checkpoint named by ``save_dir/last_checkpoint``, if that file exists."""
        name = self.last_checkpoint_name()
        if name is None:
            return None
        full = name if os.path.isabs(name) else os.path.join(self.save_dir, name)
        if not os.path.isfile(full):
            path = os.path.join(self.save_dir, LAST_CHECKPOINT)
            raise CheckpointError(f"{path} names {full}, which does not exist; delete {path} to start afresh")
        return full

    def has_checkpoint(self) -> bool:
        return bool(self.save_dir) and os.path.isfile(os.path.join(self.save_dir, LAST_CHECKPOINT))

    def resume_or_load(
        self, weight: str, transfer: bool = False, no_head: bool = False, adjust_lr: bool = False
    ) -> dict[str, Any]:
        """Resume from ``last_checkpoint`` when there is one (model with its head, optimizer, scheduler, iteration,
        whatever ``transfer`` / ``no_head`` say: they describe the *initial* weights), else load ``weight`` as the
        flags ask. A truncated or corrupt latest checkpoint falls back to the newest older one that reads."""
        if self.has_checkpoint():
            return self._resume(transfer, no_head, adjust_lr)
        if not weight:
            logger.info("No initial weights (MODEL.WEIGHT is empty): training from scratch")
            return {"iteration": 0}
        return self.load(weight, transfer=transfer, no_head=no_head, adjust_lr=adjust_lr)

    def _resume(self, transfer: bool, no_head: bool, adjust_lr: bool) -> dict[str, Any]:
        try:
            candidates = [self.last_checkpoint()]
        except CheckpointError as e:
            logger.error("%s", e)
            candidates = []
        older = [p for p in reversed(self.periodic_checkpoints()) if p not in candidates]
        final = os.path.join(self.save_dir, "model_final.pth")
        candidates += older + ([final] if os.path.isfile(final) and final not in candidates else [])
        for i, path in enumerate(candidates):
            try:
                extras = self.load(path, purpose="resume", adjust_lr=adjust_lr)
            except CorruptCheckpointError as e:
                logger.error("%s; trying the previous checkpoint", e)
                continue
            ignored = [flag for flag, on in (("--transfer", transfer), ("--no-head", no_head)) if on]
            logger.info(
                "Resuming from %s at iteration %d (OUTPUT_DIR/last_checkpoint%s): model with its head, "
                "optimizer and LR schedule %s%s",
                path,
                extras.get("iteration", 0),
                "" if i == 0 else ", after falling back from an unreadable newer checkpoint",
                "(rebuilt from the current SOLVER settings)" if self.schedule_rebuilt else "restored",
                f"; {' / '.join(ignored)} apply only to the initial weights (MODEL.WEIGHT) and are ignored for a resume"
                if ignored
                else "",
            )
            if i > 0:
                self._write_last(os.path.relpath(path, self.save_dir))
            return extras
        raise CheckpointError(
            f"{os.path.join(self.save_dir, LAST_CHECKPOINT)} exists but no checkpoint in "
            f"{self.save_dir} can be read; delete it (and the broken files) to start afresh"
        )

    # --- loading ---------------------------------------------------------------------------------------------
    def load(
        self,
        path: str,
        transfer: bool = False,
        no_head: bool = False,
        purpose: str = "finetune",
        adjust_lr: bool = False,
    ) -> dict[str, Any]:
        """Load ``path`` into the model; returns the extras (``iteration`` and whatever else the file holds).

        Args:
            transfer: weights only (iteration 0; optimizer, scheduler and other state are not restored).
            no_head: leave out the keys under ``head_prefixes`` (the head keeps its initialisation).
            purpose: ``"finetune"`` (MODEL.WEIGHT for training), ``"test"`` or ``"resume"``. Wrong shapes are
                always errors; so are missing backbone keys. A missing head is an error unless ``no_head`` or the
                file holds no head at all (a backbone-only / converted checkpoint) when finetuning; at test and
                resume time every model key must load, and a resume also refuses unexpected keys.
            adjust_lr: keep the iteration but rebuild the LR schedule from the scheduler as currently configured
                instead of restoring the saved one.
        """
        if purpose not in PURPOSES:
            raise ValueError(f"purpose must be one of {PURPOSES}, got {purpose!r}")
        if no_head and not self.head_prefixes:
            raise CheckpointError("--no-head: the model declares no head (head_prefixes is empty)")
        data = read_checkpoint(path)
        try:
            state = strip_wrappers(extract_state_dict(data))
        except ValueError as e:
            raise CheckpointError(f"{path}: {e}") from None
        for key in ("model", "model_state", "state_dict"):
            data.pop(key, None)
        self.loaded_info = {k: v for k, v in data.items() if k not in ("optimizer", "scheduler")}
        needs = dict(data.get("backbone_config") or {})
        source = data.get("converted_from", "")
        fmt = detect_format(state)
        if fmt is not None:
            try:
                conv = CONVERTERS[fmt](state)
            except ConversionError as e:
                raise CheckpointError(f"{path}: {e}") from None
            logger.info(
                "%s is a %s checkpoint: converting its keys (same as tools/convert_checkpoint.py --from %s):\n%s",
                path,
                fmt,
                fmt,
                format_table(conv, fmt),
            )
            state, needs, source = conv.state, conv.backbone_config, fmt
            transfer = True  # a foreign optimizer / schedule means nothing to ours
        module = self._module()
        skip = self.head_prefixes if no_head else ()
        to_load, report = match_state_dict(module.state_dict(), state, skip)
        self.report = report
        self._log_report(path, report, purpose, no_head)
        self._check(path, report, purpose, no_head, needs, source)
        module.load_state_dict(to_load, strict=False)
        extras: dict[str, Any] = {"iteration": 0}
        for key in _METADATA:
            data.pop(key, None)
        if transfer or purpose == "test":
            return extras
        optimizer_state = data.pop("optimizer", None)
        scheduler_state = data.pop("scheduler", None)
        if self.optimizer is not None and optimizer_state is not None:
            try:
                self.optimizer.load_state_dict(optimizer_state)
            except (ValueError, KeyError) as e:
                raise CheckpointError(
                    f"{path}: its optimizer state does not fit this optimizer ({e}); use "
                    "--transfer to load the weights only"
                ) from None
        extras.update(data)
        iteration = int(extras.get("iteration", 0))
        if self.scheduler is not None:
            changed = _schedule_changes(self.scheduler.state_dict(), scheduler_state) if scheduler_state else []
            self.schedule_rebuilt = bool(adjust_lr or changed)
            if adjust_lr:
                self._rebuild_schedule(iteration)
            elif changed:
                # e.g. a rerun with a lower SOLVER.BASE_LR after the loss went NaN: the user's new settings win
                logger.warning(
                    "The LR schedule of the config differs from the checkpoint's (%s): it follows the "
                    "current SOLVER settings from iteration %d",
                    ", ".join(changed),
                    iteration,
                )
                self._rebuild_schedule(iteration)
            elif scheduler_state is not None:
                self.scheduler.load_state_dict(scheduler_state)
        return extras

    def _rebuild_schedule(self, iteration: int) -> None:
        """Put the freshly built scheduler at ``iteration``: the lr follows the current SOLVER settings."""
        sched = self.scheduler
        sched.last_epoch = iteration
        lrs = sched.get_lr()
        for group, base, lr in zip(sched.optimizer.param_groups, sched.base_lrs, lrs):
            group["initial_lr"] = base
            group["lr"] = lr
        sched._last_lr = list(lrs)
        logger.info(
            "LR schedule rebuilt from the current SOLVER settings at iteration %d (lr %.6g)",
            iteration,
            lrs[0] if lrs else float("nan"),
        )

    def _is_head(self, key: str) -> bool:
        return any(key.startswith(p) for p in self.head_prefixes)

    def _log_report(self, path: str, report: LoadReport, purpose: str, no_head: bool) -> None:
        logger.info(
            "Loaded %s (%s%s): %d loaded, %d missing, %d unexpected, %d wrong shape, %d skipped\n%s",
            path,
            purpose,
            ", --no-head" if no_head else "",
            len(report.loaded),
            len(report.missing),
            len(report.unexpected),
            len(report.shape_mismatch),
            len(report.skipped),
            report.table(),
        )
        if report.skipped:
            logger.info("Not loaded on purpose (--no-head, the model's head): %s", ", ".join(report.skipped))
        if report.missing:
            logger.warning("Missing from the checkpoint (keep their initial values): %s", _keys(report.missing))
        if report.unexpected:
            logger.warning("In the checkpoint but not in the model (unused): %s", _keys(report.unexpected))
        for k, got, want in report.shape_mismatch:
            logger.error("Wrong shape for %s: checkpoint %s, model %s", k, got, want)

    def _drop_absent_addons(self, report: LoadReport, missing: list[str]) -> list[str]:
        """``missing`` without the keys of add-on modules the checkpoint holds nothing of (logged)."""
        present = report.loaded + report.unexpected + report.skipped + [k for k, _, _ in report.shape_mismatch]
        for prefix in self.addon_prefixes:
            if any(k.startswith(prefix) for k in present):
                continue
            fresh = [k for k in missing if k.startswith(prefix)]
            if fresh:
                logger.info(
                    "The checkpoint has no %s* keys: that module (%d tensors) starts from its initialisation",
                    prefix,
                    len(fresh),
                )
                missing = [k for k in missing if not k.startswith(prefix)]
        return missing

    def _check(self, path: str, report: LoadReport, purpose: str, no_head: bool, needs: dict, source: str) -> None:
        problems = []
        hint = []
        if needs:
            hint.append(
                f"this checkpoint{' (converted from ' + source + ')' if source else ''} needs the model built "
                f"with {' '.join(config_overrides(needs))}"
            )
        if report.shape_mismatch:
            problems.append(
                f"{len(report.shape_mismatch)} tensors have the wrong shape: "
                + _keys([f"{k} (checkpoint {a}, model {b})" for k, a, b in report.shape_mismatch], 6)
            )
            if any(self._is_head(k) for k, _, _ in report.shape_mismatch) and purpose == "finetune":
                hint.append("use --no-head to leave the head out (e.g. for a different NUM_CLASSES)")
            if any(not self._is_head(k) for k, _, _ in report.shape_mismatch):
                hint.append(
                    "the config builds another backbone than the one saved (depth, MODEL.BACKBONE.WIDTH_MULT, "
                    "laterals): use the config the checkpoint was trained with"
                )
        missing_body = [k for k in report.missing if not self._is_head(k)]
        missing_head = [k for k in report.missing if self._is_head(k)]
        if purpose == "finetune" and missing_head:
            missing_head = self._drop_absent_addons(report, missing_head)
        if missing_body:
            problems.append(f"{len(missing_body)} backbone keys are missing: {_keys(missing_body, 6)}")
            foreign = detect_format(report.unexpected) if report.unexpected else None
            if not needs and foreign:
                hint.append(
                    f"its keys are {foreign}'s: convert it (python tools/convert_checkpoint.py --from "
                    f"{foreign} ...) and build the model in its form (docs/MODEL_ZOO.md)"
                )
            elif not needs:
                hint.append(
                    "the config builds another backbone than the one saved: use the config the checkpoint was "
                    "trained with (a run's OUTPUT_DIR/config.yaml)"
                )
        ckpt_has_head = any(self._is_head(k) for k in report.loaded + report.unexpected + report.skipped) or any(
            self._is_head(k) for k, _, _ in report.shape_mismatch
        )
        # a missing head is explained at finetune time by --no-head, or by a file that holds no head at all
        head_ok = purpose == "finetune" and (no_head or not ckpt_has_head)
        if missing_head and not head_ok:
            problems.append(f"{len(missing_head)} head keys are missing: {_keys(missing_head, 6)}")
            if purpose == "finetune":
                hint.append("pass --no-head to start the head from its initialisation")
            elif purpose == "test":
                hint.append("test with the config the checkpoint was trained with (its run's OUTPUT_DIR/config.yaml)")
        elif missing_head:
            logger.info(
                "The head (%s) starts from its initialisation: %s",
                ", ".join(self.head_prefixes),
                "--no-head" if no_head else "the checkpoint holds no head (backbone only)",
            )
        if purpose == "resume" and report.unexpected:
            problems.append(f"{len(report.unexpected)} keys do not belong to this model: {_keys(report.unexpected, 6)}")
            hint.append(
                "OUTPUT_DIR holds a run of a different model: use another OUTPUT_DIR, or delete "
                "OUTPUT_DIR/last_checkpoint to start afresh there"
            )
        if problems:
            if purpose == "resume" and not any("OUTPUT_DIR" in h for h in hint):
                hint.append(
                    "OUTPUT_DIR holds a run of a different model: use another OUTPUT_DIR, or delete "
                    "OUTPUT_DIR/last_checkpoint to start afresh there"
                )
            raise CheckpointError(
                f"{path} does not fit the model ({purpose}):\n  " + "\n  ".join(problems),
                where="MODEL.WEIGHT" if purpose != "resume" else "OUTPUT_DIR/last_checkpoint",
                fix="; ".join(dict.fromkeys(hint)) or "use the config the checkpoint was trained with",
            )
