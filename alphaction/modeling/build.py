"""Builders: the only place in ``modeling`` that reads the config."""

from __future__ import annotations

import logging
import math
from typing import Any

from ..structures.boxes import BOX_CONVENTIONS
from ..utils.errors import ConfigValueError
from .backbone import BLOCKS_PER_STAGE, LATERAL_FORMS, BatchNormSpec, NonLocalSpec, NonLocalStages, SlowFast
from .classifier import ClipClassifier, ClipHead
from .detector import ActionDetector
from .ia import BLOCK_TYPES, STRUCTURES, IAConfig, IAStructure, make_ia_structure
from .roi_heads import ActionLoss, ClassGroups, FCPredictor, MLPFeatureExtractor, ROIActionHead

logger = logging.getLogger(__name__)


def build_nonlocal(cfg: Any) -> tuple[NonLocalSpec, NonLocalStages, NonLocalStages]:
    """``MODEL.NONLOCAL`` and the slow / fast ``CONV3_NONLOCAL`` / ``CONV4_NONLOCAL`` / ``CONV3_GROUP_NL`` keys."""
    nl = cfg.MODEL.NONLOCAL
    if nl.CONV_INIT_STD < 0 or nl.BN_EPSILON <= 0:
        raise ConfigValueError(
            f"MODEL.NONLOCAL.CONV_INIT_STD={nl.CONV_INIT_STD} / BN_EPSILON={nl.BN_EPSILON}: "
            "the std must be >= 0 and the epsilon > 0"
        )
    spec = NonLocalSpec(
        use_maxpool=bool(nl.USE_MAXPOOL),
        use_softmax=bool(nl.USE_SOFTMAX),
        use_scale=bool(nl.USE_SCALE),
        use_bn=bool(nl.USE_BN),
        frozen_bn=bool(nl.FROZEN_BN),
        bias=not nl.NO_BIAS,
        conv_init_std=float(nl.CONV_INIT_STD),
        zero_init_out=bool(nl.USE_ZERO_INIT_CONV),
        bn_momentum=float(nl.BN_MOMENTUM),
        bn_eps=float(nl.BN_EPSILON),
        bn_init_gamma=float(nl.BN_INIT_GAMMA),
    )
    sf = cfg.MODEL.BACKBONE.SLOWFAST
    stages = [
        NonLocalStages(res3=bool(p.CONV3_NONLOCAL), res4=bool(p.CONV4_NONLOCAL), res3_group=bool(p.CONV3_GROUP_NL))
        for p in (sf.SLOW, sf.FAST)
    ]
    enabled = [
        f"{name}: {', '.join(k for k, on in (('res3', st.res3), ('res4', st.res4)) if on)}"
        for name, st in zip(("slow", "fast"), stages)
        if st.any
    ]
    if enabled:
        logger.info("Non-local blocks in %s (after every second block)", "; ".join(enabled))
    return spec, stages[0], stages[1]


def build_backbone(cfg: Any) -> SlowFast:
    """The SlowFast backbone named by ``MODEL.BACKBONE.CONV_BODY``."""
    bb = cfg.MODEL.BACKBONE
    if bb.CONV_BODY not in BLOCKS_PER_STAGE:
        raise ConfigValueError(f"MODEL.BACKBONE.CONV_BODY={bb.CONV_BODY!r} is not one of {sorted(BLOCKS_PER_STAGE)}")
    sf = bb.SLOWFAST
    if not (sf.SLOW.ACTIVE and sf.FAST.ACTIVE):
        raise ConfigValueError(
            "MODEL.BACKBONE.SLOWFAST.SLOW.ACTIVE and FAST.ACTIVE must both be True "
            "(single-pathway SlowFast is not provided)"
        )
    if sf.LATERAL not in LATERAL_FORMS:
        raise ConfigValueError(
            f"MODEL.BACKBONE.SLOWFAST.LATERAL={sf.LATERAL!r}: use 'tconv' (AlphAction) or 'fuse' "
            "(PySlowFast / pytorchvideo)"
        )
    if sf.LATERAL_KERNEL < 1 or sf.LATERAL_KERNEL % 2 == 0:
        raise ConfigValueError(f"MODEL.BACKBONE.SLOWFAST.LATERAL_KERNEL must be odd and >= 1, got {sf.LATERAL_KERNEL}")
    if sf.RES5_STRIDE not in (1, 2) or sf.RES5_DILATION < 1:
        raise ConfigValueError(
            f"MODEL.BACKBONE.SLOWFAST.RES5_STRIDE={sf.RES5_STRIDE} / RES5_DILATION={sf.RES5_DILATION}: "
            "use stride 1 or 2 and dilation >= 1 (1 / 2 for detection, 2 / 1 for the recognition form)"
        )
    # the fast widths are fixed at 1/8 of the slow ones (as in AlphAction); BETA only restates that ratio
    if not math.isclose(sf.BETA, 1.0 / 8, rel_tol=1e-6):
        raise ConfigValueError(
            f"MODEL.BACKBONE.SLOWFAST.BETA={sf.BETA}: only 1/8 is supported (fast widths are "
            "fixed at 1/8 of the slow ones; scale both with MODEL.BACKBONE.WIDTH_MULT)"
        )
    if bb.WIDTH_MULT <= 0:
        raise ConfigValueError(f"MODEL.BACKBONE.WIDTH_MULT must be > 0, got {bb.WIDTH_MULT}")
    alpha = int(cfg.INPUT.ALPHA)
    if alpha < 1:
        raise ConfigValueError(f"INPUT.ALPHA must be >= 1, got {cfg.INPUT.ALPHA}")
    bn = BatchNormSpec(
        frozen=bool(bb.FROZEN_BN),
        eps=float(bb.BN_EPSILON),
        momentum=float(bb.BN_MOMENTUM),
        init_gamma_last=float(bb.BN_INIT_GAMMA),
    )
    nonlocal_spec, slow_nonlocal, fast_nonlocal = build_nonlocal(cfg)
    return SlowFast(
        BLOCKS_PER_STAGE[bb.CONV_BODY],
        alpha=alpha,
        width_mult=float(bb.WIDTH_MULT),
        bn=bn,
        lateral=sf.LATERAL,
        lateral_kernel=int(sf.LATERAL_KERNEL),
        stem_pool_padding=bool(sf.STEM_POOL_PADDING),
        res5_stride=int(sf.RES5_STRIDE),
        res5_dilation=int(sf.RES5_DILATION),
        nonlocal_spec=nonlocal_spec,
        slow_nonlocal=slow_nonlocal,
        fast_nonlocal=fast_nonlocal,
    )


def class_groups(cfg: Any) -> ClassGroups:
    """The pose / object / person group sizes, checked against ``NUM_CLASSES``."""
    head = cfg.MODEL.ROI_ACTION_HEAD
    groups = ClassGroups(
        int(head.NUM_PERSON_MOVEMENT_CLASSES),
        int(head.NUM_OBJECT_MANIPULATION_CLASSES),
        int(head.NUM_PERSON_INTERACTION_CLASSES),
    )
    if min(groups.num_pose, groups.num_object, groups.num_person) < 0 or groups.num_classes != head.NUM_CLASSES:
        raise ConfigValueError(
            "MODEL.ROI_ACTION_HEAD.NUM_PERSON_MOVEMENT_CLASSES + NUM_OBJECT_MANIPULATION_CLASSES + "
            f"NUM_PERSON_INTERACTION_CLASSES = {groups.num_pose} + {groups.num_object} + {groups.num_person} "
            f"= {groups.num_classes}, but MODEL.ROI_ACTION_HEAD.NUM_CLASSES = {head.NUM_CLASSES}; "
            "the groups must be non-negative and sum to NUM_CLASSES"
        )
    return groups


def loss_weights(cfg: Any) -> tuple[float, float, float]:
    """``(pose, object, person)`` loss weights; a weight < 0 becomes the size of its group (AlphAction)."""
    head = cfg.MODEL.ROI_ACTION_HEAD
    groups = class_groups(cfg)
    pairs = (
        (head.POSE_LOSS_WEIGHT, groups.num_pose),
        (head.OBJECT_LOSS_WEIGHT, groups.num_object),
        (head.PERSON_LOSS_WEIGHT, groups.num_person),
    )
    return tuple(float(size) if weight < 0 else float(weight) for weight, size in pairs)


def _ia_layers(structure: str, block_list: Any) -> tuple[tuple[str, ...], ...]:
    """``I_BLOCK_LIST`` as layers: flat for serial / dense (one block a layer), a list of lists for parallel."""
    key = "MODEL.IA_STRUCTURE.I_BLOCK_LIST"
    items = list(block_list)
    nested = [isinstance(item, (list, tuple)) for item in items]
    if not items:
        raise ConfigValueError(f"{key} is empty: give blocks from {BLOCK_TYPES}, e.g. ['P', 'O', 'M', 'P', 'O', 'M']")
    if structure == "parallel":
        if not all(nested):
            raise ConfigValueError(
                f"{key}={items}: the parallel structure takes a list of layers, e.g. [['P', 'O', 'M'], ['P', 'O', 'M']]"
            )
        layers = tuple(tuple(str(t) for t in layer) for layer in items)
    else:
        if any(nested):
            raise ConfigValueError(
                f"{key}={items}: the {structure} structure takes a flat list, e.g. ['P', 'O', 'M', 'P', 'O', 'M']"
            )
        layers = tuple((str(t),) for t in items)
    bad = sorted({t for layer in layers for t in layer} - set(BLOCK_TYPES))
    if bad or not all(layers):
        raise ConfigValueError(f"{key}={items}: blocks must be one of {BLOCK_TYPES} (got {bad}) and no layer empty")
    return layers


def build_ia_structure(cfg: Any, dim_in: int) -> IAStructure:
    """The IA module of ``MODEL.IA_STRUCTURE`` on pooled features of width ``dim_in``."""
    ia = cfg.MODEL.IA_STRUCTURE
    if ia.STRUCTURE not in STRUCTURES:
        raise ConfigValueError(f"MODEL.IA_STRUCTURE.STRUCTURE={ia.STRUCTURE!r}: use one of {STRUCTURES}")
    layers = _ia_layers(ia.STRUCTURE, ia.I_BLOCK_LIST)
    types = {t for layer in layers for t in layer}
    length = tuple(int(v) for v in ia.LENGTH)
    if "P" in types and ia.MAX_PERSON < 1:
        raise ConfigValueError(f"MODEL.IA_STRUCTURE.MAX_PERSON={ia.MAX_PERSON} with a P block: set it >= 1")
    if "O" in types and ia.MAX_OBJECT < 1:
        raise ConfigValueError(
            f"MODEL.IA_STRUCTURE.MAX_OBJECT={ia.MAX_OBJECT} with an O block: set it >= 1 "
            "(AlphAction: 5) or remove 'O' from I_BLOCK_LIST"
        )
    if "M" in types:
        if ia.MAX_PER_SEC < 1 or len(length) != 2 or min(length) < 0:
            raise ConfigValueError(
                f"MODEL.IA_STRUCTURE.MAX_PER_SEC={ia.MAX_PER_SEC} / LENGTH={ia.LENGTH}: memory "
                "blocks need MAX_PER_SEC >= 1 and LENGTH (seconds before, seconds after) >= 0"
            )
        if ia.DIM_IN != dim_in:
            raise ConfigValueError(
                f"MODEL.IA_STRUCTURE.DIM_IN={ia.DIM_IN}: memory holds pooled person features, "
                f"{dim_in} wide for this backbone; set DIM_IN {dim_in}"
            )
    if ia.DIM_INNER < 1 or ia.DIM_OUT < 1:
        raise ConfigValueError(f"MODEL.IA_STRUCTURE.DIM_INNER={ia.DIM_INNER} / DIM_OUT={ia.DIM_OUT} must be >= 1")
    settings = IAConfig(
        structure=ia.STRUCTURE,
        layers=layers,
        dim_person=dim_in,
        dim_memory=int(ia.DIM_IN),
        dim_inner=int(ia.DIM_INNER),
        dim_out=int(ia.DIM_OUT),
        max_person=int(ia.MAX_PERSON),
        max_object=int(ia.MAX_OBJECT),
        max_per_sec=int(ia.MAX_PER_SEC),
        length=length,
        temporal_position=bool(ia.TEMPORAL_POSITION),
        bias=not ia.NO_BIAS,
        init_std=float(ia.CONV_INIT_STD),
        zero_init_out=bool(ia.USE_ZERO_INIT_CONV),
        layer_norm=bool(ia.LAYER_NORM),
        dropout=float(ia.DROPOUT),
        mask_padding=bool(ia.MASK_PADDING),
        memory_norm=bool(ia.MEMORY_NORM),
        qk_norm=bool(ia.QK_NORM),
    )
    return make_ia_structure(settings)


def box_convention(cfg: Any) -> str:
    """``INPUT.BOX_CONVENTION``, checked (``alphaction.structures.boxes``)."""
    convention = cfg.INPUT.BOX_CONVENTION
    if convention not in BOX_CONVENTIONS:
        raise ConfigValueError(
            f"INPUT.BOX_CONVENTION={convention!r}: use one of {BOX_CONVENTIONS} ('alphaction' for "
            "AlphAction's released weights, 'continuous' otherwise)"
        )
    return convention


def build_roi_action_head(cfg: Any, dim_in: int) -> ROIActionHead:
    """The ROI action head on top of a backbone with ``dim_in`` (slow + fast) output channels."""
    head = cfg.MODEL.ROI_ACTION_HEAD
    if head.FEATURE_EXTRACTOR != "2MLPFeatureExtractor":
        raise ConfigValueError(
            f"MODEL.ROI_ACTION_HEAD.FEATURE_EXTRACTOR={head.FEATURE_EXTRACTOR!r}: "
            "only '2MLPFeatureExtractor' is provided"
        )
    if head.PREDICTOR != "FCPredictor":
        raise ConfigValueError(f"MODEL.ROI_ACTION_HEAD.PREDICTOR={head.PREDICTOR!r}: only 'FCPredictor' is provided")
    if head.POOLER_TYPE not in ("align3d", "pooling3d"):
        raise ConfigValueError(f"MODEL.ROI_ACTION_HEAD.POOLER_TYPE={head.POOLER_TYPE!r}: use 'align3d' or 'pooling3d'")
    if head.PROPOSAL_PER_CLIP < 1:
        raise ConfigValueError(f"MODEL.ROI_ACTION_HEAD.PROPOSAL_PER_CLIP must be >= 1, got {head.PROPOSAL_PER_CLIP}")
    groups = class_groups(cfg)
    ia = cfg.MODEL.IA_STRUCTURE
    extractor = MLPFeatureExtractor(
        dim_in,
        int(head.MLP_HEAD_DIM),
        resolution=int(head.POOLER_RESOLUTION),
        scale=float(head.POOLER_SCALE),
        sampling_ratio=int(head.POOLER_SAMPLING_RATIO),
        mean_before_pooler=bool(head.MEAN_BEFORE_POOLER),
        pooler_type=head.POOLER_TYPE,
        ia_structure=build_ia_structure(cfg, dim_in) if ia.ACTIVE else None,
        fusion=ia.FUSION if ia.ACTIVE else "add",
        max_object=int(ia.MAX_OBJECT),
    )
    predictor = FCPredictor(extractor.dim_out, groups.num_classes, dropout_rate=float(head.DROPOUT_RATE))
    loss = ActionLoss(groups, loss_weights(cfg), gamma=float(head.FOCAL_LOSS.GAMMA), alpha=float(head.FOCAL_LOSS.ALPHA))
    return ROIActionHead(
        extractor,
        predictor,
        loss,
        proposals_per_clip=int(head.PROPOSAL_PER_CLIP),
        train_jitter=tuple(float(r) for r in head.TRAIN_BOX_JITTER),
        test_extend=tuple(float(s) for s in cfg.TEST.EXTEND_SCALE),
        box_convention=box_convention(cfg),
    )


def build_clip_classifier(cfg: Any) -> ClipClassifier:
    """SlowFast backbone + clip head of ``MODEL.CLIP_HEAD``."""
    head = cfg.MODEL.CLIP_HEAD
    if head.NUM_CLASSES < 1:
        raise ConfigValueError(f"MODEL.CLIP_HEAD.NUM_CLASSES must be >= 1, got {head.NUM_CLASSES}")
    weights = [float(w) for w in head.CLASS_WEIGHTS] or None
    if weights is not None and len(weights) != head.NUM_CLASSES:
        raise ConfigValueError(
            f"MODEL.CLIP_HEAD.CLASS_WEIGHTS has {len(weights)} values for NUM_CLASSES="
            f"{head.NUM_CLASSES}: give one weight per class, or [] for uniform weights"
        )
    if head.MULTI_LABEL and head.LABEL_SMOOTHING > 0:
        raise ConfigValueError(
            "MODEL.CLIP_HEAD.LABEL_SMOOTHING applies to single-label training only; set it 0 with MULTI_LABEL True"
        )
    backbone = build_backbone(cfg)
    return ClipClassifier(
        backbone,
        ClipHead(backbone.dim_out, int(head.NUM_CLASSES), float(head.DROPOUT_RATE)),
        multi_label=bool(head.MULTI_LABEL),
        class_weights=weights,
        label_smoothing=float(head.LABEL_SMOOTHING),
    )


def build_action_detector(cfg: Any) -> ActionDetector:
    """SlowFast backbone + ROI action head."""
    backbone = build_backbone(cfg)
    scale = float(cfg.MODEL.ROI_ACTION_HEAD.POOLER_SCALE)
    if not math.isclose(scale * backbone.output_stride, 1.0, rel_tol=1e-6):
        raise ConfigValueError(
            f"MODEL.ROI_ACTION_HEAD.POOLER_SCALE={scale} does not match the backbone's output stride "
            f"{backbone.output_stride} "
            f"(MODEL.BACKBONE.SLOWFAST.RES5_STRIDE={cfg.MODEL.BACKBONE.SLOWFAST.RES5_STRIDE}); "
            f"set POOLER_SCALE {1.0 / backbone.output_stride}"
        )
    return ActionDetector(backbone, build_roi_action_head(cfg, backbone.dim_out))


# MODEL.META_ARCHITECTURE -> builder
META_ARCHITECTURES = {"ActionDetector": build_action_detector, "ClipClassifier": build_clip_classifier}


def build_model(cfg: Any) -> ActionDetector | ClipClassifier:
    """The model named by ``MODEL.META_ARCHITECTURE`` (``ActionDetector`` or ``ClipClassifier``)."""
    arch = cfg.MODEL.META_ARCHITECTURE
    if arch not in META_ARCHITECTURES:
        raise ConfigValueError(f"MODEL.META_ARCHITECTURE={arch!r}: use one of {sorted(META_ARCHITECTURES)}")
    return META_ARCHITECTURES[arch](cfg)
