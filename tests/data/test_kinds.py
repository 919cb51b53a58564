"""The data side's table of model kinds agrees with the other tables keyed by MODEL.META_ARCHITECTURE, and the
builders refuse what a kind cannot do."""

from __future__ import annotations

import pytest

from alphaction.config import get_cfg
from alphaction.config.paths_catalog import CLASSIFICATION_FACTORIES
from alphaction.data.build import build_data_loader, build_dataset
from alphaction.data.kinds import DATA_KINDS, data_kind, kind_of_factory
from alphaction.data.labels import class_names, num_classes
from alphaction.engine.tasks import TASKS
from alphaction.modeling.build import META_ARCHITECTURES


def test_every_table_names_the_same_models():
    assert set(DATA_KINDS) == set(TASKS) == set(META_ARCHITECTURES)
    # the catalog's classification fields and the classification datasets name the same factories
    assert set(CLASSIFICATION_FACTORIES) == set(DATA_KINDS["ClipClassifier"].factories)
    every = [f for kind in DATA_KINDS.values() for f in kind.factories]
    assert len(every) == len(set(every))  # a factory belongs to one kind
    assert kind_of_factory("AVAVideoDataset") is DATA_KINDS["ActionDetector"]
    assert kind_of_factory("NoSuchDataset") is None


def test_class_count_comes_from_the_kinds_head():
    cfg = get_cfg()
    cfg.MODEL.ROI_ACTION_HEAD.NUM_CLASSES, cfg.MODEL.CLIP_HEAD.NUM_CLASSES = 7, 3
    assert num_classes(cfg) == 7
    cfg.MODEL.META_ARCHITECTURE = "ClipClassifier"
    assert num_classes(cfg) == 3 and data_kind(cfg).first_id == 0
    cfg.MODEL.META_ARCHITECTURE = "NoSuchModel"
    with pytest.raises(ValueError, match="META_ARCHITECTURE='NoSuchModel'"):
        data_kind(cfg)


def test_detector_names_are_the_label_map_ids_one_up(tmp_path):
    labelmap = tmp_path / "labelmap.pbtxt"
    labelmap.write_text('item {\n  name: "stand"\n  id: 1\n}\nitem {\n  name: "sit"\n  id: 3\n}\n')
    (tmp_path / "catalog.yaml").write_text(
        f"mine:\n  video_root: {tmp_path}\n  ann_file: {tmp_path / 'a.json'}\n"
        f"  eval_file_paths:\n    labelmap_file: {labelmap}\n"
    )
    cfg = get_cfg()
    cfg.DATASETS.CATALOG = str(tmp_path / "catalog.yaml")
    cfg.DATASETS.TRAIN, cfg.DATASETS.TEST = (), ("mine",)
    cfg.MODEL.ROI_ACTION_HEAD.NUM_CLASSES = 3
    assert class_names(cfg) == ["stand", "2", "sit"]  # output c is action id c + 1; a gap keeps its number


def test_unknown_factory_is_named_with_the_known_ones(tmp_path):
    (tmp_path / "catalog.yaml").write_text(
        f"odd:\n  factory: MyDataset\n  video_root: {tmp_path}\n  ann_file: a.json\n"
    )
    cfg = get_cfg()
    cfg.DATASETS.CATALOG = str(tmp_path / "catalog.yaml")
    with pytest.raises(ValueError, match=r"unknown factory 'MyDataset'.*AVAVideoDataset, ClassFolderDataset"):
        build_dataset(cfg, "odd", is_train=True)


def test_class_balanced_sampling_is_refused_for_a_detector():
    cfg = get_cfg()
    cfg.DATASETS.TRAIN = ("synthetic_tiny_train",)
    cfg.DATALOADER.CLASS_BALANCED_SAMPLING = True
    with pytest.raises(ValueError, match="CLASS_BALANCED_SAMPLING.*ActionDetector"):
        build_data_loader(cfg, is_train=True, train_dataset=(object(), None))
