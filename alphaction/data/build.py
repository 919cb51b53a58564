"""Build datasets, transforms and data loaders from the config (the only config readers in ``data``)."""

from __future__ import annotations

import functools
import logging
import os
import random

import numpy as np
import torch
from torch.utils.data import ConcatDataset, DataLoader

from ..config.paths_catalog import DatasetCatalog, validate_spec
from ..utils import comm
from ..utils.errors import ConfigValueError
from ..utils.labelmap import class_layout, read_labelmap
from .datasets.balanced_sampler import ClassBalancedBatchSampler, balanced_weights
from .datasets.clips import ClipViewTransform
from .kinds import DATA_KINDS, DataKind, data_kind, kind_of_factory
from .prep.validate import ValidationReport, check_annotations, check_keyframe_clips
from .samplers import InferenceSampler, IterationBatchSampler
from .transforms import ClipTransform

logger = logging.getLogger(__name__)

__all__ = [
    "build_transforms",
    "build_clip_transforms",
    "build_dataset",
    "build_train_dataset",
    "build_data_loader",
    "build_test_datasets",
    "train_subset_indices",
    "loader_rng_state",
    "set_loader_rng_state",
]


def build_transforms(cfg, is_train: bool) -> ClipTransform:
    """The clip pipeline of ``cfg.INPUT`` for training or testing."""
    inp = cfg.INPUT
    return ClipTransform(
        is_train=is_train,
        min_size=inp.MIN_SIZE_TRAIN if is_train else inp.MIN_SIZE_TEST,
        max_size=inp.MAX_SIZE_TRAIN if is_train else inp.MAX_SIZE_TEST,
        mean=inp.PIXEL_MEAN,
        std=inp.PIXEL_STD,
        to_bgr=inp.TO_BGR,
        tau=inp.TAU,
        alpha=inp.ALPHA,
        slow_jitter=inp.SLOW_JITTER,
        color_jitter=inp.COLOR_JITTER,
        hue=inp.HUE_JITTER,
        sat=inp.SAT_JITTER,
        val=inp.VAL_JITTER,
        flip_prob=0.5 if is_train else 0.0,
        box_convention=inp.BOX_CONVENTION,
    )


def build_clip_transforms(cfg, is_train: bool) -> ClipViewTransform:
    """The clip-classification pipeline: sampling, resize, crop, flip, jitter, normalize, pathway split."""
    inp = cfg.INPUT
    return ClipViewTransform(
        is_train=is_train,
        clip_len=inp.FRAME_NUM,
        interval=inp.FRAME_SAMPLE_RATE,
        min_size=inp.MIN_SIZE_TRAIN if is_train else inp.MIN_SIZE_TEST,
        max_size=inp.MAX_SIZE_TRAIN if is_train else inp.MAX_SIZE_TEST,
        mean=inp.PIXEL_MEAN,
        std=inp.PIXEL_STD,
        to_bgr=inp.TO_BGR,
        tau=inp.TAU,
        alpha=inp.ALPHA,
        crop_size=inp.CROP_SIZE,
        num_clips=inp.NUM_CLIPS_TEST,
        num_crops=inp.NUM_CROPS_TEST,
        flip_prob=0.5 if is_train else 0.0,
        color_jitter=inp.COLOR_JITTER,
        hue=inp.HUE_JITTER,
        sat=inp.SAT_JITTER,
        val=inp.VAL_JITTER,
        clip_fps=inp.CLIP_FPS,
    )


def _build_classification_dataset(cfg, name: str, spec: dict, is_train: bool, augment: bool | None):
    if spec.get("synthetic_thermal"):
        from .synthetic.thermal import ensure_thermal_dataset  # lazy: only this entry needs it

        ensure_thermal_dataset(**spec["synthetic_thermal"])
    if spec.get("synthetic_clips"):
        from .synthetic.clips import ensure_clip_dataset  # lazy: only this entry needs it

        ensure_clip_dataset(**spec["synthetic_clips"])
    validate_spec(spec)
    head = cfg.MODEL.CLIP_HEAD
    return data_kind(cfg).factories[spec["factory"]](
        **spec["args"],
        transforms=build_clip_transforms(cfg, is_train),
        num_classes=head.NUM_CLASSES,
        multi_label=bool(head.MULTI_LABEL),
        name=f"{name} ({spec.get('source', 'catalog')})",
    )


def check_head_against_label_map(cfg, name: str, spec: dict) -> None:
    """The detector's class count must be what the dataset's label map names: its largest action id (class ``c`` is
    action id ``c + 1``; AVA's evaluation map lists 60 of the 80 ids, the largest being 80). A head with more classes
    would write action ids the label map does not have; one with fewer could never predict some of its classes."""
    labelmap_file = spec["args"].get("eval_file_paths", {}).get("labelmap_file")
    if not labelmap_file or not os.path.isfile(labelmap_file):
        return
    ids = read_labelmap(labelmap_file)
    largest = max(ids)
    head = cfg.MODEL.ROI_ACTION_HEAD
    if head.NUM_CLASSES != largest:
        raise ConfigValueError(
            f"MODEL.ROI_ACTION_HEAD.NUM_CLASSES = {head.NUM_CLASSES}, but the label map of dataset {name!r} "
            f"({labelmap_file}) names {len(ids)} actions with ids up to {largest}",
            where="config keys MODEL.ROI_ACTION_HEAD.NUM_CLASSES / NUM_*_CLASSES",
            fix=f"set MODEL.ROI_ACTION_HEAD.NUM_CLASSES {largest} and the three groups NUM_PERSON_MOVEMENT_CLASSES "
            f"(one per person, softmax: ids 1..P) / NUM_OBJECT_MANIPULATION_CLASSES / "
            f"NUM_PERSON_INTERACTION_CLASSES so that they sum to {largest} (tools/generate_finetune_config.py "
            "reads them from the label map), and TEST.CLASS_GROUPS to match or ()",
        )
    _, groups = class_layout(labelmap_file)
    ours = (head.NUM_PERSON_MOVEMENT_CLASSES, head.NUM_OBJECT_MANIPULATION_CLASSES, head.NUM_PERSON_INTERACTION_CLASSES)
    if groups is not None and tuple(ours) != groups:
        raise ConfigValueError(
            "MODEL.ROI_ACTION_HEAD class groups are {} {} {} (pose, object, interaction), but the label_type fields "
            "of dataset {!r}'s label map ({}) give {} {} {}".format(*ours, name, labelmap_file, *groups),
            where="config keys MODEL.ROI_ACTION_HEAD.NUM_PERSON_MOVEMENT_CLASSES / NUM_OBJECT_MANIPULATION_CLASSES / "
            "NUM_PERSON_INTERACTION_CLASSES",
            fix="set them to {} {} {} (tools/generate_finetune_config.py reads them from the label map)".format(
                *groups
            ),
        )


def _check_kind(cfg, name: str, spec: dict) -> DataKind:
    """The model's kind (data/kinds.py), which must be the dataset's: detection datasets for a detector,
    classification ones for a clip classifier."""
    factory = spec.get("factory", "AVAVideoDataset")
    ours, theirs = data_kind(cfg), kind_of_factory(factory)
    if theirs is None:
        known = sorted(f for kind in DATA_KINDS.values() for f in kind.factories)
        raise ConfigValueError(
            f"dataset {name!r}: unknown factory {factory!r} ({spec.get('source', 'catalog')})",
            where=f"catalog entry {name!r}, field factory",
            fix=f"use one of {', '.join(known)}",
        )
    if theirs is not ours:
        raise ConfigValueError(
            f"dataset {name!r} ({factory}) is a {theirs.task} dataset, "
            f"but MODEL.META_ARCHITECTURE is {ours.model!r} ({ours.task})",
            where="config keys DATASETS / MODEL.META_ARCHITECTURE",
            fix=f"set MODEL.META_ARCHITECTURE {theirs.model}, or name a {ours.task} dataset "
            f"({', '.join(sorted(ours.factories))})",
        )
    return ours


def _annotation_check(name: str, ann_file: str, num_classes: int):
    """The start-up check of the annotation columns (structure, boxes, action ids), raising the report's error."""

    def check(keyframes, boxes, others) -> None:
        report = ValidationReport(name)
        check_annotations(keyframes, boxes, others, ann_file, report, num_classes=num_classes)
        report.raise_on_errors()

    return check


def _on_local_leader_first(build, leader_only=None):
    """``build()`` (then ``leader_only(result)``) on the first rank of each machine, then ``build()`` on the others
    (they find its cached index); every rank raises what the first one raised, never waiting on it forever."""
    if not comm.is_dist():
        result = build()
        if leader_only is not None:
            leader_only(result)
        return result
    leader = int(os.environ.get("LOCAL_RANK", comm.get_rank())) == 0
    result = error = None
    if leader:
        try:
            result = build()
            if leader_only is not None:
                leader_only(result)
        except Exception as e:  # noqa: BLE001 - re-raised after the barrier, so the other ranks are not left waiting
            error = e
    comm.synchronize()
    if error is not None:
        raise error
    return result if leader else build()


def _check_clips(cfg, name: str, video_root: str, dataset, sample: int = 64) -> None:
    """The clips of ``sample`` random keyframes of ``dataset`` (what it will decode): present, with their
    neighbours, and those of 8 decoded. Run by one rank per machine: the others would find the same."""
    picks = sorted(random.Random(0).sample(range(len(dataset)), min(sample, len(dataset))))
    folders, seconds, ids = dataset.keyframe_clips(np.asarray(picks, dtype=np.int64))
    check_keyframe_clips(
        name,
        video_root,
        list(zip(folders.tolist(), seconds.tolist(), ids.tolist())),
        cfg.INPUT.FRAME_NUM * cfg.INPUT.FRAME_SAMPLE_RATE,
        undecodable="warn" if cfg.DATALOADER.ON_BAD_SAMPLE == "skip" else "error",
    ).raise_on_errors()


def _build_detection_dataset(cfg, name: str, spec: dict, is_train: bool, augment: bool | None):
    if spec.get("synthetic"):
        from .synthetic import ensure_synthetic_dataset  # lazy: only synthetic entries need it

        _on_local_leader_first(lambda: ensure_synthetic_dataset(**spec["synthetic"]))
    validate_spec(spec)  # missing files: an error naming the entry and the field
    factory = spec.get("factory", "AVAVideoDataset")
    num_classes = cfg.MODEL.ROI_ACTION_HEAD.NUM_CLASSES
    dataset = _on_local_leader_first(
        lambda: data_kind(cfg).factories[factory](
            **spec["args"],
            frame_num=cfg.INPUT.FRAME_NUM,
            sample_rate=cfg.INPUT.FRAME_SAMPLE_RATE,
            is_train=is_train,
            box_thresh=cfg.TEST.BOX_THRESH,
            num_classes=num_classes,
            max_objects=cfg.MODEL.IA_STRUCTURE.MAX_OBJECT,
            on_bad_sample=cfg.DATALOADER.ON_BAD_SAMPLE,
            box_convention=cfg.INPUT.BOX_CONVENTION,
            transforms=build_transforms(cfg, is_train if augment is None else augment),
            name=f"{name} ({spec.get('source', 'catalog')})",
            index_cache=bool(cfg.DATALOADER.INDEX_CACHE),
            check=_annotation_check(name, spec["args"]["ann_file"], num_classes),
            check_key=f"start-up check v1, {num_classes} classes",
        ),
        leader_only=lambda ds: _check_clips(cfg, name, spec["args"]["video_root"], ds),
    )
    check_head_against_label_map(cfg, name, spec)
    return dataset


def build_dataset(cfg, name: str, is_train: bool, augment: bool | None = None):
    """One dataset of the catalog (``DatasetCatalog.get(name, extra_catalog=cfg.DATASETS.CATALOG)``).

    ``is_train`` picks what a detection dataset holds (ground-truth boxes and labels, or the test boxes);
    ``augment`` the transforms (training's random ones or the deterministic test ones; default: ``is_train``).

    Synthetic entries are generated first when missing (``alphaction.data.synthetic``). A detection dataset's
    annotations are checked (``data/prep/validate.py``: structure, boxes, action ids; the clips of a sample of its
    keyframes) as its index is built; the index is cached (``DATALOADER.INDEX_CACHE``), built by one rank per
    machine and memory-mapped by the others.
    """
    spec = DatasetCatalog.get(name, extra_catalog=cfg.DATASETS.CATALOG)
    kind = _check_kind(cfg, name, spec)
    return _DATASET_BUILDERS[kind.model](cfg, name, spec, is_train, augment)


# DataKind.model -> how its catalog entries become datasets
_DATASET_BUILDERS = {"ActionDetector": _build_detection_dataset, "ClipClassifier": _build_classification_dataset}


def build_test_datasets(cfg) -> list[tuple[str, object]]:
    """``(name, dataset)`` of every ``DATASETS.TEST`` entry: build them once per run and give them to
    :func:`build_data_loader` (``test_datasets=``) at each evaluation."""
    names = list(cfg.DATASETS.TEST)
    if not names:
        raise ConfigValueError("DATASETS.TEST is empty: name at least one catalog dataset to test on")
    return [(name, build_dataset(cfg, name, is_train=False)) for name in names]


def _seed_worker(worker_id: int) -> None:
    # torch seeds each worker with base_seed + worker_id (base_seed from the loader's generator);
    # propagate it to the other RNGs any transform might use
    seed = torch.initial_seed() % 2**32
    np.random.seed(seed)
    random.seed(seed)
    # torch already runs workers with one intra-op thread. Do NOT call cv2.setNumThreads here: in a
    # forked child of a process that used OpenCV's thread pool it deadlocks (measured).


def _aspect_groups(dataset) -> np.ndarray:
    parts = dataset.datasets if isinstance(dataset, ConcatDataset) else [dataset]
    return np.concatenate([d.aspect_ratio_groups() for d in parts])


def _per_rank(total: int, world_size: int, key: str, accum: int = 1) -> int:
    parts = world_size * accum
    if total % parts != 0 or total < parts:
        what = (
            f"the number of processes ({world_size})"
            if accum == 1
            else f"processes x SOLVER.GRAD_ACCUM_STEPS ({world_size} x {accum})"
        )
        raise ConfigValueError(f"{key} ({total}) is a global batch size and must be a positive multiple of {what}")
    return total // parts


def _loader_seed(seed: int, rank: int, start_iter: int) -> int:
    # worker seeds come from this generator: distinct per rank, and per resume point, so a resumed run does
    # not replay the augmentations its first iterations already saw
    return int(np.random.SeedSequence([seed, rank, start_iter]).generate_state(1, dtype=np.uint32)[0])


def _loader_kwargs(cfg, rank: int, seed: int, start_iter: int) -> dict:
    num_workers = cfg.DATALOADER.NUM_WORKERS
    on_gpu = torch.cuda.is_available() and not str(cfg.MODEL.DEVICE).startswith("cpu")
    kwargs = dict(
        num_workers=num_workers,
        collate_fn=functools.partial(data_kind(cfg).collate, size_divisibility=cfg.DATALOADER.SIZE_DIVISIBILITY),
        worker_init_fn=_seed_worker,
        persistent_workers=num_workers > 0,
        pin_memory=bool(cfg.DATALOADER.PIN_MEMORY) and on_gpu,
        generator=torch.Generator().manual_seed(_loader_seed(seed, rank, start_iter)),
    )
    if num_workers > 0:
        kwargs["prefetch_factor"] = cfg.DATALOADER.PREFETCH_FACTOR
    return kwargs


def _classes_of(dataset) -> tuple[str, list[str] | None]:
    """What a training dataset says its classes are: (where it says so, names in class order or None)."""
    names = getattr(dataset, "class_names", None)
    if names is not None:  # classification: the class index / folders; numbers only when it names none
        numbered = list(names) == [str(i) for i in range(len(names))]
        return "its class index", None if numbered else list(names)
    labelmap = getattr(dataset, "eval_file_paths", {}).get("labelmap_file")
    if labelmap and os.path.isfile(labelmap):
        ids = read_labelmap(labelmap)
        return labelmap, [f"{i}: {ids[i]}" for i in sorted(ids)]
    return "no label map", None


def check_same_classes(datasets: list, names: list[str]) -> None:
    """Datasets trained on together must agree on their classes: same count, and the same names in the same
    order wherever both name them (class index or label map). Raises ``ValueError`` naming both datasets and
    the first difference."""
    first_name, (first_src, first) = names[0], _classes_of(datasets[0])
    for name, d in zip(names[1:], datasets[1:]):
        if getattr(d, "num_classes", None) != getattr(datasets[0], "num_classes", None):
            raise ConfigValueError(
                f"DATASETS.TRAIN: {first_name!r} has {datasets[0].num_classes} classes, {name!r} has "
                f"{d.num_classes}: datasets trained on together need the same classes"
            )
        src, other = _classes_of(d)
        if first is None or other is None or first == other:
            continue
        k = next((i for i, (a, b) in enumerate(zip(first, other)) if a != b), min(len(first), len(other)))
        a = first[k] if k < len(first) else "(none)"
        b = other[k] if k < len(other) else "(none)"
        raise ConfigValueError(
            f"DATASETS.TRAIN: {first_name!r} ({first_src}) and {name!r} ({src}) disagree on class "
            f"{k}: {a!r} vs {b!r}; concatenated datasets need the same classes in the same order"
        )


def train_subset_indices(subset, total: int) -> np.ndarray | None:
    """The sample indices ``DATASETS.TRAIN_SUBSET`` selects from ``total`` training samples (None: all of them).

    A count N takes N samples evenly spaced over the whole set (first and last included), so class-sorted lists
    still give several classes; a list names the indices themselves (into the concatenation of DATASETS.TRAIN).
    """
    key = "DATASETS.TRAIN_SUBSET"
    if subset is None or (isinstance(subset, (list, tuple)) and len(subset) == 0):
        return None
    if isinstance(subset, bool) or not isinstance(subset, (int, list, tuple)):
        raise ConfigValueError(
            f"{key} must be a count (e.g. 10) or a list of sample indices (e.g. [0, 5, 9]), got {subset!r}"
        )
    if isinstance(subset, int):
        if not 1 <= subset <= total:
            raise ConfigValueError(f"{key} {subset}: the training set has {total} samples; choose 1 to {total}")
        # N points spaced >= 1 apart round to N distinct indices
        return np.floor(np.linspace(0, total - 1, subset) + 0.5).astype(np.int64)
    bad = [i for i in subset if isinstance(i, bool) or not isinstance(i, int)]
    if bad:
        raise ConfigValueError(f"{key}: indices must be integers, got {bad[0]!r}")
    out = [i for i in subset if not 0 <= i < total]
    if out:
        raise ConfigValueError(f"{key}: index {out[0]} is outside the training set (indices 0 to {total - 1})")
    if len(set(subset)) != len(subset):
        dup = next(i for i in subset if list(subset).count(i) > 1)
        raise ConfigValueError(f"{key}: index {dup} is listed twice; list each sample once")
    return np.asarray(subset, dtype=np.int64)


class _SubsetBatches(torch.utils.data.Sampler):
    """Batches of positions in a subset, turned into indices of the full dataset."""

    def __init__(self, batches, indices: np.ndarray):
        self.batches, self.indices = batches, indices

    def __iter__(self):
        for batch in self.batches:
            yield self.indices[batch].tolist()

    def __len__(self) -> int:
        return len(self.batches)


def build_train_dataset(cfg):
    """The concatenation of ``DATASETS.TRAIN`` (classes checked to agree) and the indices
    ``DATASETS.TRAIN_SUBSET`` picks from it (None: all)."""
    names = list(cfg.DATASETS.TRAIN)
    if not names:
        raise ConfigValueError("DATASETS.TRAIN is empty: name at least one catalog dataset to train on")
    datasets = [build_dataset(cfg, n, is_train=True) for n in names]
    if len(datasets) > 1:
        check_same_classes(datasets, names)
    dataset = datasets[0] if len(datasets) == 1 else ConcatDataset(datasets)
    return dataset, train_subset_indices(cfg.DATASETS.TRAIN_SUBSET, len(dataset))


def _datasets_of(dataset) -> list:
    return list(dataset.datasets) if isinstance(dataset, ConcatDataset) else [dataset]


def loader_rng_state(loader) -> list | None:
    """The augmentation RNG states of the datasets behind ``loader`` when they live in this process
    (``NUM_WORKERS`` 0), else None: with workers, each worker's stream restarts from the loader's seed."""
    if getattr(loader, "num_workers", 1) != 0:
        return None
    states = []
    for d in _datasets_of(loader.dataset):
        rng = getattr(d, "augmentation_rng", None)
        states.append(rng().bit_generator.state if callable(rng) else None)
    return states


def set_loader_rng_state(loader, states: list | None) -> bool:
    """Restore :func:`loader_rng_state`; returns whether anything was restored."""
    if not states or getattr(loader, "num_workers", 1) != 0:
        return False
    parts = _datasets_of(loader.dataset)
    if len(parts) != len(states):
        return False
    for d, state in zip(parts, states):
        if state is not None and callable(getattr(d, "augmentation_rng", None)):
            d.augmentation_rng().bit_generator.state = state
    return True


def build_data_loader(
    cfg,
    is_train: bool,
    start_iter: int = 0,
    rank: int = 0,
    world_size: int = 1,
    seed: int = 0,
    test_datasets: list | None = None,
    train_dataset: tuple | None = None,
):
    """Data loader(s) for one rank.

    Returns:
        training: one ``DataLoader`` over the concatenation of ``DATASETS.TRAIN`` yielding exactly
        ``(SOLVER.MAX_ITER - start_iter) x SOLVER.GRAD_ACCUM_STEPS`` micro-batches of
        ``SOLVER.VIDEOS_PER_BATCH // (world_size x GRAD_ACCUM_STEPS)`` clips;
        testing: a list of ``(dataset_name, DataLoader)`` for ``DATASETS.TEST``, each rank seeing an exact,
        contiguous share (``InferenceSampler``) in batches of ``TEST.VIDEOS_PER_BATCH // world_size``, over
        ``test_datasets`` (:func:`build_test_datasets`) when given, else over datasets built now. Training uses
        ``train_dataset`` (what :func:`build_train_dataset` returned) when given.
    """
    loader_kwargs = _loader_kwargs(cfg, rank, seed, start_iter if is_train else 0)
    if is_train:
        names = list(cfg.DATASETS.TRAIN)
        kind = data_kind(cfg)
        if cfg.DATALOADER.CLASS_BALANCED_SAMPLING and not kind.balanced_sampling:
            raise ConfigValueError(
                f"DATALOADER.CLASS_BALANCED_SAMPLING is True, but a {kind.model} has no single label per sample "
                "to balance",
                where="config key DATALOADER.CLASS_BALANCED_SAMPLING",
                fix="set DATALOADER.CLASS_BALANCED_SAMPLING False (it applies to clip classification)",
            )
        dataset, subset = train_dataset if train_dataset is not None else build_train_dataset(cfg)
        num = len(dataset) if subset is None else len(subset)
        accum = max(int(cfg.SOLVER.GRAD_ACCUM_STEPS), 1)
        batch_size = _per_rank(cfg.SOLVER.VIDEOS_PER_BATCH, world_size, "SOLVER.VIDEOS_PER_BATCH", accum)
        groups = _aspect_groups(dataset) if cfg.DATALOADER.ASPECT_RATIO_GROUPING else None
        if groups is not None and subset is not None:
            groups = groups[subset]
        # micro-batch k of the stream is the same whether the run started at 0 or resumes at start_iter
        if cfg.DATALOADER.CLASS_BALANCED_SAMPLING:
            labels = [lab for d in _datasets_of(dataset) for lab in d.labels]
            if subset is not None:
                labels = [labels[i] for i in subset]
            sampler = ClassBalancedBatchSampler(
                balanced_weights(labels),
                batch_size,
                cfg.SOLVER.MAX_ITER * accum,
                start_iter * accum,
                seed,
                rank,
                world_size,
            )
        else:
            sampler = IterationBatchSampler(
                num,
                batch_size,
                cfg.SOLVER.MAX_ITER * accum,
                start_iter=start_iter * accum,
                seed=seed,
                rank=rank,
                world_size=world_size,
                group_ids=groups,
            )
        if subset is not None:  # positions in the subset -> indices of the concatenation
            sampler = _SubsetBatches(sampler, subset)
        logger.info(
            "training on %s: %d %s%s, %d iterations of %d clips per rank%s",
            names,
            num,
            kind.unit,
            f" (DATASETS.TRAIN_SUBSET of {len(dataset)})" if subset is not None else "",
            len(sampler) // accum,
            batch_size * accum,
            f" ({accum} micro-batches of {batch_size})" if accum > 1 else "",
        )
        return DataLoader(dataset, batch_sampler=sampler, **loader_kwargs)

    batch_size = _per_rank(cfg.TEST.VIDEOS_PER_BATCH, world_size, "TEST.VIDEOS_PER_BATCH")
    loaders = []
    for name, dataset in test_datasets if test_datasets is not None else build_test_datasets(cfg):
        sampler = InferenceSampler(len(dataset), rank, world_size, mode="contiguous")
        batch_sampler = torch.utils.data.BatchSampler(sampler, batch_size, drop_last=False)
        loaders.append((name, DataLoader(dataset, batch_sampler=batch_sampler, **loader_kwargs)))
    return loaders
