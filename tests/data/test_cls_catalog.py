"""Catalog entries of clip-classification datasets and the builder's dispatch by factory."""

from __future__ import annotations

import pytest

from alphaction.config import get_cfg
from alphaction.config.cfgnode import ConfigError
from alphaction.config.paths_catalog import DatasetCatalog, validate_spec
from alphaction.data.build import build_dataset
from alphaction.data.datasets.clip_sources import VideoListDataset


def _catalog(tmp_path, body: str) -> str:
    path = tmp_path / "catalog.yaml"
    path.write_text(body)
    return str(path)


def test_video_list_entry_resolves_relative_paths_and_plain_fields(tmp_path):
    cat = _catalog(
        tmp_path,
        "clips_train:\n  factory: VideoListDataset\n  root: /data/x\n"
        "  ann_file: ann/train_list.txt\n  video_root: videos\n  separator: ','\n",
    )
    spec = DatasetCatalog.get("clips_train", cat)
    assert spec["factory"] == "VideoListDataset" and spec["task"] == "classification"
    assert spec["args"] == {
        "ann_file": "/data/x/ann/train_list.txt",
        "video_root": "/data/x/videos",
        "class_index": "",
        "separator": ",",
    }
    with pytest.raises(FileNotFoundError, match="ann_file: file not found"):
        validate_spec(spec)


def test_unknown_and_missing_fields_are_named(tmp_path):
    cat = _catalog(
        tmp_path,
        "a:\n  factory: HDF5ClipDataset\n  h5_file: t.h5\n  box_file: b.json\nb:\n  factory: ClassFolderDataset\n",
    )
    with pytest.raises(ConfigError, match="box_file"):
        DatasetCatalog.get("a", cat)
    with pytest.raises(ConfigError, match="'video_root' is required"):
        DatasetCatalog.get("b", cat)


def test_builder_dispatches_by_factory_and_checks_the_architecture(tmp_path):
    (tmp_path / "list.txt").write_text("v.mp4 1\n")
    cat = _catalog(tmp_path, "clips:\n  factory: VideoListDataset\n  ann_file: list.txt\n")
    cfg = get_cfg()
    cfg.DATASETS.CATALOG = cat
    with pytest.raises(ValueError, match="ClipClassifier"):
        build_dataset(cfg, "clips", is_train=True)  # a detector config cannot take a classification set
    cfg.MODEL.META_ARCHITECTURE = "ClipClassifier"
    cfg.MODEL.CLIP_HEAD.NUM_CLASSES = 2
    ds = build_dataset(cfg, "clips", is_train=True)
    assert isinstance(ds, VideoListDataset) and ds.videos == [str(tmp_path / "v.mp4")] and ds.labels == [1]
    with pytest.raises(ValueError, match="detection dataset"):
        build_dataset(cfg, "synthetic_tiny_train", is_train=True)


def test_class_balanced_option_selects_the_balanced_sampler(tmp_path):
    from alphaction.data import build_data_loader
    from alphaction.data.datasets.balanced_sampler import ClassBalancedBatchSampler

    (tmp_path / "list.txt").write_text("a.mp4 0\nb.mp4 0\nc.mp4 1\n")
    cfg = get_cfg()
    cfg.DATASETS.CATALOG = _catalog(tmp_path, "clips:\n  factory: VideoListDataset\n  ann_file: list.txt\n")
    cfg.DATASETS.TRAIN = ("clips",)
    cfg.MODEL.META_ARCHITECTURE = "ClipClassifier"
    cfg.MODEL.CLIP_HEAD.NUM_CLASSES = 2
    cfg.DATALOADER.NUM_WORKERS = 0
    cfg.SOLVER.VIDEOS_PER_BATCH = 2
    cfg.SOLVER.MAX_ITER = 3
    cfg.DATALOADER.CLASS_BALANCED_SAMPLING = True
    loader = build_data_loader(cfg, is_train=True)
    assert isinstance(loader.batch_sampler, ClassBalancedBatchSampler) and len(loader.batch_sampler) == 3
    assert loader.batch_sampler.weights.tolist() == pytest.approx([0.25, 0.25, 0.5])
