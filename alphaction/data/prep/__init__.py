"""Dataset preparation: raw videos -> clips and keyframes, annotation conversion, person / object boxes,
dataset checks and drawings (the logic behind ``tools/prepare_ava_videos.py``, ``tools/ava_csv_to_coco.py``,
``tools/coco_to_ava_csv.py``, ``tools/detect_boxes.py``, ``tools/validate_dataset.py`` and
``tools/visualize_dataset.py``; see docs/CUSTOM_DATASET_PREPARATION.md), and clip-classification lists from a
folder of videos (``clip_lists``, behind ``tools/prepare_custom_dataset.py``; see docs/CLASSIFICATION.md).
Labelling projects for VIA 3 and CVAT, out and back in (``labelling``, behind ``tools/export_for_labelling.py``
and ``tools/import_labels.py``; see docs/LABELLING.md).

Submodules are imported on use (``from alphaction.data.prep.videos import prepare_videos``) so that the
cheap checks (``validate.quick_check``) do not pull in torchvision's detectors.
"""
