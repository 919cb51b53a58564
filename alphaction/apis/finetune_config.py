"""Write a finetuning config: a small YAML that inherits (``_BASE_``) from a base config and overrides the
datasets, the class counts, the batch and the schedule (linear scaling rule). Used by
``tools/generate_finetune_config.py``.

The linear scaling rule (Goyal et al.): with a global batch of ``b`` clips instead of the base config's ``b0``,
the learning rate is multiplied by ``b / b0`` and every iteration count (steps, MAX_ITER, warmup, checkpoint and
evaluation periods) by ``b0 / b``, so that the same number of clips is seen at the same learning rate per clip.
AlphAction's published schedule (the base configs) is for ``b0 = 16`` clips: lr 0.0004, STEPS (50000, 70000),
MAX_ITER 90000, WARMUP_ITERS 2000.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace

import yaml

from ..config import get_cfg
from ..config.cfgnode import ConfigError
from ..config.paths_catalog import DatasetCatalog
from ..solver.scaling import scale_schedule
from ..utils.io import atomic_write
from ..utils.labelmap import class_layout

__all__ = [
    "BACKBONES",
    "IA_CHOICES",
    "IA_CONFIGS",
    "FinetuneSpec",
    "scale_schedule",
    "videos_per_gpu_for_memory",
    "labelmap_classes",
    "resolve_classes",
    "training_keyframes",
    "epoch_schedule",
    "finetune_overrides",
    "write_finetune_config",
]

CONFIG_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "config_files")
# backbone choice -> the base config it inherits from
BACKBONES = {
    "r50_4x16": os.path.join(CONFIG_DIR, "resnet50_4x16f_baseline.yaml"),
    "r101_8x8": os.path.join(CONFIG_DIR, "resnet101_8x8f_baseline.yaml"),
}
# (backbone, IA structure) -> AlphAction's published IA config it inherits from (--ia)
IA_CONFIGS = {
    ("r50_4x16", "dense"): os.path.join(CONFIG_DIR, "resnet50_4x16f_denseserial.yaml"),
    ("r50_4x16", "serial"): os.path.join(CONFIG_DIR, "resnet50_4x16f_serial.yaml"),
    ("r50_4x16", "parallel"): os.path.join(CONFIG_DIR, "resnet50_4x16f_parallel.yaml"),
    ("r101_8x8", "dense"): os.path.join(CONFIG_DIR, "resnet101_8x8f_denseserial.yaml"),
}
IA_CHOICES = ("off", "on", "dense", "serial", "parallel")  # "on" = dense serial, AlphAction's best
# GPU memory one training clip needs (GiB, frozen BN, 256-px short side, AlphAction's 64-frame input), rounded
# up from AlphAction's 2 clips per 12 GB GPU for R50 4x16; R101 8x8 has twice the slow frames and a deeper res4.
GIB_PER_CLIP = {"r50_4x16": 5.0, "r101_8x8": 8.0}
AVA_CLASS_GROUPS = (14, 49, 17)


@dataclass
class FinetuneSpec:
    """The answers the generator needs (``tools/generate_finetune_config.py`` flags or prompts)."""

    train: list[str]
    test: list[str]
    num_classes: int | None = None  # None: from the training set's label map (``resolve_classes``)
    class_groups: tuple[int, int, int] | None = None  # pose (softmax), object, person-interaction counts
    backbone: str = "r50_4x16"
    base_config: str = ""  # overrides ``backbone``: inherit from this file (e.g. a CPU quick schedule)
    num_gpus: int = 1
    videos_per_gpu: int = 2
    catalog: str = ""
    base_weights: str = ""  # MODEL.WEIGHT; empty keeps the base config's
    output_dir: str = ""  # OUTPUT_DIR; empty: data/output/<config file stem>
    ia: str = "off"  # one of IA_CHOICES: the IA structure of the published config to inherit from
    epochs: float | None = None  # size the schedule to this many passes over the training keyframes
    extra: dict = field(default_factory=dict)


def videos_per_gpu_for_memory(backbone: str, gib: float) -> int:
    """A rough clips-per-GPU for ``gib`` GiB of GPU memory (at least 1). Lower it if training runs out of memory."""
    return max(1, int(gib // GIB_PER_CLIP.get(backbone, GIB_PER_CLIP["r50_4x16"])))


def labelmap_classes(datasets, catalog: str = "") -> tuple[str, int, tuple[int, int, int] | None] | None:
    """``(label map path, NUM_CLASSES, groups or None)`` from the first of ``datasets`` whose catalog entry names
    a label map file that exists (:func:`alphaction.utils.labelmap.class_layout`); None when none does."""
    for name in datasets:
        try:
            entry = DatasetCatalog.get(name, catalog)
        except ConfigError:
            continue  # reported by the checks with the registered names
        path = entry.get("args", {}).get("eval_file_paths", {}).get("labelmap_file", "")
        if path and os.path.isfile(path):
            return (path, *class_layout(path))
    return None


def resolve_classes(spec: FinetuneSpec) -> tuple[FinetuneSpec, str]:
    """``spec`` with NUM_CLASSES and the groups filled from the training (else test) datasets' label map where
    they were not given, and a line saying where they came from (empty when nothing was filled)."""
    _check_datasets(spec)
    found = labelmap_classes(list(spec.train) + list(spec.test), spec.catalog)
    if found is None:
        if spec.num_classes is None:
            raise ConfigError(
                "the number of classes is unknown: none of the datasets names a label map file that "
                f"exists ({', '.join(list(spec.train) + list(spec.test)) or 'no datasets'})",
                where="--num-classes",
                fix="give --num-classes K and --class-groups P O I, or register the datasets with "
                "their labelmap_file (docs/CUSTOM_DATASET_PREPARATION.md)",
            )
        return spec, ""
    path, k, groups = found
    notes = []
    if spec.num_classes is None:
        spec = replace(spec, num_classes=k)
        notes.append(f"NUM_CLASSES {k}")
    elif spec.num_classes != k:
        raise ConfigError(
            f"--num-classes {spec.num_classes}, but the label map {path} asks for {k} outputs (its largest id)",
            where="--num-classes",
            fix=f"leave --num-classes out (or give {k}), or point the catalog at the right label map",
        )
    if spec.class_groups is None and groups is not None:
        spec = replace(spec, class_groups=groups)
        notes.append("groups {} {} {} from its label_type fields".format(*groups))
    elif groups is not None and tuple(spec.class_groups) != groups:
        raise ConfigError(
            "--class-groups {} {} {}, but the label_type fields of {} give {} {} {}".format(
                *spec.class_groups, path, *groups
            ),
            where="--class-groups",
            fix="leave --class-groups out to take them from the label map, or correct its label_type fields",
        )
    return spec, (f"{', '.join(notes)} from {path}" if notes else "")


def training_keyframes(datasets, catalog: str = "") -> int | None:
    """Annotated keyframes (images with at least one person box) of the detection ``datasets``: what one epoch
    of AlphAction's sampler visits. None when an annotation file is not at hand."""
    import json

    total = 0
    for name in datasets:
        path = DatasetCatalog.get(name, catalog).get("args", {}).get("ann_file", "")
        if not (path.endswith(".json") and os.path.isfile(path)):
            return None
        with open(path, encoding="utf-8") as f:
            ann = json.load(f)
        total += len({a["image_id"] for a in ann.get("annotations", [])})
    return total


def epoch_schedule(sched: dict, epochs: float, keyframes: int, batch: int) -> dict:
    """``sched`` (a :func:`scale_schedule` result) stretched so that MAX_ITER covers ``epochs`` passes over
    ``keyframes`` at ``batch`` clips per iteration; steps, warmup and the periods keep their share of MAX_ITER."""
    if epochs <= 0 or keyframes < 1:
        raise ConfigError(f"--epochs must be > 0 and the training set non-empty (got {epochs}, {keyframes} keyframes)")
    max_iter = max(1, -(-int(round(epochs * keyframes)) // batch))
    share = max_iter / sched["MAX_ITER"]
    out = dict(sched, MAX_ITER=max_iter, STEPS=tuple(max(1, int(round(s * share))) for s in sched["STEPS"]))
    for key in ("WARMUP_ITERS", "CHECKPOINT_PERIOD", "EVAL_PERIOD"):
        if key in out and out[key] > 0:
            out[key] = max(1, int(round(out[key] * share)))
    return out


def _check(spec: FinetuneSpec) -> tuple[int, int, int]:
    if spec.ia not in IA_CHOICES:
        raise ConfigError(f"--ia {spec.ia!r}: choose one of {', '.join(IA_CHOICES)}")
    if spec.ia != "off" and spec.base_config:
        raise ConfigError(
            "--ia applies to --backbone; with --base-config the base config decides the IA structure "
            "(pass an IA config such as config_files/synthetic/slowfast_r14_cpu_ia_denseserial.yaml)"
        )
    if spec.ia != "off" and _ia_key(spec) not in IA_CONFIGS:
        raise ConfigError(
            f"--ia {spec.ia} --backbone {spec.backbone}: AlphAction published no such config; "
            f"available: {', '.join(f'--backbone {b} --ia {i}' for b, i in IA_CONFIGS)}"
        )
    if spec.backbone not in BACKBONES and not spec.base_config:
        raise ConfigError(f"unknown backbone {spec.backbone!r}; choose one of {sorted(BACKBONES)}")
    if spec.num_gpus < 1 or spec.videos_per_gpu < 1:
        raise ConfigError(f"--num-gpus ({spec.num_gpus}) and --videos-per-gpu ({spec.videos_per_gpu}) must be >= 1")
    if spec.num_classes < 1:
        raise ConfigError(f"--num-classes must be >= 1, got {spec.num_classes}")
    groups = spec.class_groups
    if groups is None:
        if spec.num_classes != sum(AVA_CLASS_GROUPS):
            raise ConfigError(
                f"--class-groups P O I is needed for {spec.num_classes} classes: the number of mutually exclusive "
                "pose classes (softmax, ids 1..P), then object-manipulation and person-interaction classes "
                f"(sigmoid); they must sum to {spec.num_classes} (e.g. '--class-groups {spec.num_classes} 0 0' "
                f"for single-label, '--class-groups 0 {spec.num_classes} 0' for multi-label classes). Or give "
                "each entry of the label map a label_type (PERSON_MOVEMENT, OBJECT_MANIPULATION, "
                "PERSON_INTERACTION, in that id order) and the groups are read from it"
            )
        groups = AVA_CLASS_GROUPS
    groups = tuple(int(g) for g in groups)
    if len(groups) != 3 or min(groups) < 0 or sum(groups) != spec.num_classes:
        raise ConfigError(
            f"--class-groups {' '.join(map(str, groups))}: three counts >= 0 summing to "
            f"--num-classes {spec.num_classes} are needed (pose, object, person interaction)"
        )
    return groups  # type: ignore[return-value]


def _check_datasets(spec: FinetuneSpec) -> None:
    if not spec.train:
        raise ConfigError("--dataset-train: name at least one catalog dataset to train on")
    known = set(DatasetCatalog.names(spec.catalog))
    for name in list(spec.train) + list(spec.test):
        if name not in known:
            where = f"the catalog file {spec.catalog}" if spec.catalog else "the built-in catalog (no --catalog given)"
            raise ConfigError(
                f"dataset {name!r} is not in {where}; registered: {', '.join(sorted(known))}. "
                "Register it in a catalog file (docs/CUSTOM_DATASET_PREPARATION.md, step 5) "
                "and pass --catalog FILE"
            )


def _ia_key(spec: FinetuneSpec) -> tuple[str, str]:
    return spec.backbone, "dense" if spec.ia == "on" else spec.ia


def finetune_overrides(spec: FinetuneSpec, output_file: str) -> tuple[str, dict]:
    """``(base config path, overrides)`` of the config for ``spec`` (see the module docstring)."""
    return _overrides(resolve_classes(spec)[0], output_file)


def _overrides(spec: FinetuneSpec, output_file: str) -> tuple[str, dict]:
    """:func:`finetune_overrides` of a spec whose classes :func:`resolve_classes` has filled and checked."""
    groups = _check(spec)
    if spec.base_config:
        base_path = os.path.abspath(spec.base_config)
    else:
        base_path = IA_CONFIGS[_ia_key(spec)] if spec.ia != "off" else BACKBONES[spec.backbone]
    base = get_cfg()
    base.merge_from_file(base_path)
    batch = spec.num_gpus * spec.videos_per_gpu
    s = base.SOLVER
    sched = scale_schedule(
        s.BASE_LR,
        s.VIDEOS_PER_BATCH,
        s.STEPS,
        s.MAX_ITER,
        s.WARMUP_ITERS,
        batch,
        {"CHECKPOINT_PERIOD": s.CHECKPOINT_PERIOD, "EVAL_PERIOD": s.EVAL_PERIOD},
    )
    if spec.epochs is not None:
        keyframes = training_keyframes(spec.train, spec.catalog)
        if keyframes is None:
            raise ConfigError(
                "--epochs needs the training sets' annotation files (ann_file) to count keyframes",
                where="--epochs",
                fix="prepare the datasets first, or leave --epochs out",
            )
        sched = epoch_schedule(sched, spec.epochs, keyframes, batch)
    stem = os.path.splitext(os.path.basename(output_file))[0]
    model = {
        "ROI_ACTION_HEAD": {
            "NUM_CLASSES": spec.num_classes,
            "NUM_PERSON_MOVEMENT_CLASSES": groups[0],
            "NUM_OBJECT_MANIPULATION_CLASSES": groups[1],
            "NUM_PERSON_INTERACTION_CLASSES": groups[2],
        }
    }
    if not spec.base_config and spec.ia == "off":
        model["IA_STRUCTURE"] = {"ACTIVE": False}
    if spec.base_weights:
        model["WEIGHT"] = spec.base_weights
    datasets = {"TRAIN": tuple(spec.train), "TEST": tuple(spec.test)}
    if spec.catalog:
        datasets["CATALOG"] = spec.catalog
    overrides = {
        "MODEL": model,
        "DATASETS": datasets,
        "SOLVER": {"VIDEOS_PER_BATCH": batch, **sched},
        # inference holds no gradients: the same clips per GPU fit
        "TEST": {"VIDEOS_PER_BATCH": batch},
        "OUTPUT_DIR": spec.output_dir or os.path.join("data", "output", stem),
    }
    head = base.MODEL.ROI_ACTION_HEAD
    if base.TEST.CLASS_GROUPS and (spec.num_classes, *groups) != (
        head.NUM_CLASSES,
        head.NUM_PERSON_MOVEMENT_CLASSES,
        head.NUM_OBJECT_MANIPULATION_CLASSES,
        head.NUM_PERSON_INTERACTION_CLASSES,
    ):
        # the base config's report groups name its own classes: report the new head's groups instead
        overrides["TEST"]["CLASS_GROUPS"] = ()
    for key, value in spec.extra.items():
        node = overrides
        *parents, leaf = key.split(".")
        for p in parents:
            node = node.setdefault(p, {})
        node[leaf] = value
    return base_path, overrides


def _yaml_value(v):
    # yacs reads tuples from their Python literal; YAML lists would also load, but keep AlphAction's look
    if isinstance(v, tuple):
        return (
            "(" + ", ".join(repr(x) if isinstance(x, str) else str(x) for x in v) + ("," if len(v) == 1 else "") + ")"
        )
    if isinstance(v, dict):
        return {k: _yaml_value(x) for k, x in v.items()}
    return v


def write_finetune_config(spec: FinetuneSpec, output_file: str, header: str = "") -> str:
    """Write the config to ``output_file`` (``_BASE_`` relative to it) and check that it loads. Returns its text."""
    spec, classes_note = resolve_classes(spec)
    base_path, overrides = _overrides(spec, output_file)
    out_dir = os.path.dirname(os.path.abspath(output_file))
    data = {"_BASE_": os.path.relpath(base_path, out_dir), **_yaml_value(overrides)}
    batch = spec.num_gpus * spec.videos_per_gpu
    lines = (
        [f"# {line}" for line in header.splitlines()]
        + [
            f"# Finetuning config written by tools/generate_finetune_config.py: {spec.num_gpus} process(es) x "
            f"{spec.videos_per_gpu} clip(s) = {batch} clips per iteration;",
            f"# lr and iteration counts follow the linear scaling rule from {os.path.basename(base_path)}"
            + (f", MAX_ITER sized to {spec.epochs:g} epochs of the training keyframes." if spec.epochs else "."),
        ]
        + ([f"# Classes: {classes_note}."] if classes_note else [])
    )
    text = "\n".join(lines) + "\n" + yaml.safe_dump(data, sort_keys=False, default_flow_style=False)
    with atomic_write(output_file) as f:
        f.write(text)
        f.flush()
        get_cfg().merge_from_file(f.name)  # the file must load with the schema before it takes the name
    return text
