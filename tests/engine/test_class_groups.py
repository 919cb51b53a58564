"""TEST.CLASS_GROUPS: which action ids' mAP is reported together."""

from __future__ import annotations

import pytest

from alphaction.config import get_cfg
from alphaction.engine.tasks import report_class_groups


def test_default_groups_follow_the_head_order():
    cfg = get_cfg()  # AVA: 14 pose, 49 object, 17 person-interaction classes
    groups = report_class_groups(cfg)
    assert list(groups) == ["pose", "object", "interaction"]
    assert groups["pose"] == tuple(range(1, 15)) and groups["object"] == tuple(range(15, 64))
    assert groups["interaction"] == tuple(range(64, 81))


def test_named_groups_with_ranges_and_single_ids():
    cfg = get_cfg()
    cfg.TEST.CLASS_GROUPS = ("pose:1-5", "object: 6-8", "interaction:9,10", "memory:11")
    assert report_class_groups(cfg) == {
        "pose": (1, 2, 3, 4, 5),
        "object": (6, 7, 8),
        "interaction": (9, 10),
        "memory": (11,),
    }


@pytest.mark.parametrize("entry", ["pose", "pose:", ":1-3", "pose:a-b", "pose:1-"])
def test_bad_entries_name_the_entry(entry):
    cfg = get_cfg()
    cfg.TEST.CLASS_GROUPS = (entry,)
    with pytest.raises(ValueError, match="TEST.CLASS_GROUPS entry"):
        report_class_groups(cfg)


def test_duplicate_names_are_refused():
    cfg = get_cfg()
    cfg.TEST.CLASS_GROUPS = ("a:1", "a:2")
    with pytest.raises(ValueError, match="unique"):
        report_class_groups(cfg)
