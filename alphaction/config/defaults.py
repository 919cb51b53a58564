"""The one config schema of alphaction.

Every key the toolkit reads lives here, with its AlphAction default where AlphAction had the key, and a
one-line comment (meaning, unit). YAML files under ``config_files/`` only override these values; derived
values (for instance loss weights that follow the class-group sizes) are computed in the builders.
Use :func:`alphaction.config.get_cfg` to get a fresh clone; never mutate this module's ``_C``.
"""
from __future__ import annotations

from .cfgnode import CfgNode as CN

_C = CN()

_C.MODEL = CN()
_C.MODEL.WEIGHT = ""  # checkpoint to start from (local path); OUTPUT_DIR/last_checkpoint takes precedence when resuming
_C.MODEL.DEVICE = ""  # "cpu", "cuda" or "cuda:N"; empty: cuda when available, else cpu
_C.MODEL.META_ARCHITECTURE = "ActionDetector"  # "ActionDetector" (person boxes, ROI head) | "ClipClassifier" (one label per clip)

# ---------------------------------------------------------------------------------------------------
# Backbone
# ---------------------------------------------------------------------------------------------------
_C.MODEL.BACKBONE = CN()
_C.MODEL.BACKBONE.CONV_BODY = "Slowfast-Resnet50"  # Slowfast-Resnet50 | Slowfast-Resnet101 | Slowfast-Resnet14 (1 block per stage, CPU)
_C.MODEL.BACKBONE.FROZEN_BN = False  # BN statistics and affine terms become buffers (never trained)
_C.MODEL.BACKBONE.BN_MOMENTUM = 0.1  # BatchNorm momentum (trainable BN only)
_C.MODEL.BACKBONE.BN_EPSILON = 1e-5  # BatchNorm epsilon
_C.MODEL.BACKBONE.BN_INIT_GAMMA = 0.0  # initial gamma of the last BN of each bottleneck (trainable BN only)
_C.MODEL.BACKBONE.WIDTH_MULT = 1.0  # channel multiplier for both pathways (1.0 = the published widths; <1 for CPU runs)

_C.MODEL.BACKBONE.I3D = CN()
_C.MODEL.BACKBONE.I3D.CONV3_NONLOCAL = True  # AlphAction key, kept for config compatibility (I3D is not provided)
_C.MODEL.BACKBONE.I3D.CONV4_NONLOCAL = True  # AlphAction key, kept for config compatibility
_C.MODEL.BACKBONE.I3D.CONV3_GROUP_NL = False  # AlphAction key, kept for config compatibility

_C.MODEL.BACKBONE.SLOWFAST = CN()
_C.MODEL.BACKBONE.SLOWFAST.BETA = 1.0 / 8  # fast/slow channel ratio; sizes the slow input after the lateral concat
_C.MODEL.BACKBONE.SLOWFAST.LATERAL = "tconv"  # lateral: "tconv" (AlphAction: conv with bias) | "fuse" (PySlowFast/pytorchvideo: conv without bias + BN + ReLU)
_C.MODEL.BACKBONE.SLOWFAST.LATERAL_KERNEL = 5  # temporal kernel of the lateral convs (frames; stride is INPUT.ALPHA): AlphAction 5, PySlowFast 8x8 7, 4x16 5
_C.MODEL.BACKBONE.SLOWFAST.STEM_POOL_PADDING = False  # pad the stem max-pool (1,3,3) by (0,1,1) as PySlowFast/pytorchvideo do (AlphAction: no padding)
_C.MODEL.BACKBONE.SLOWFAST.RES5_STRIDE = 1  # spatial stride of res5: 1 (detection, output stride 16) | 2 (PySlowFast/pytorchvideo recognition, stride 32; set POOLER_SCALE 1/32)
_C.MODEL.BACKBONE.SLOWFAST.RES5_DILATION = 2  # spatial dilation of the res5 3x3 convs: 2 with stride 1 (AlphAction, PySlowFast AVA), 1 otherwise
_C.MODEL.BACKBONE.SLOWFAST.SLOW = CN()
_C.MODEL.BACKBONE.SLOWFAST.SLOW.ACTIVE = True  # slow pathway on
_C.MODEL.BACKBONE.SLOWFAST.SLOW.CONV3_NONLOCAL = True  # non-local blocks after every 2nd block of slow res3 (AlphAction default; every shipped config sets False)
_C.MODEL.BACKBONE.SLOWFAST.SLOW.CONV4_NONLOCAL = True  # non-local blocks after every 2nd block of slow res4 (AlphAction default; every shipped config sets False)
_C.MODEL.BACKBONE.SLOWFAST.SLOW.CONV3_GROUP_NL = False  # slow res3 non-local attends within groups of 4 consecutive frames
_C.MODEL.BACKBONE.SLOWFAST.FAST = CN()
_C.MODEL.BACKBONE.SLOWFAST.FAST.ACTIVE = True  # fast pathway on
_C.MODEL.BACKBONE.SLOWFAST.FAST.CONV3_NONLOCAL = False  # non-local blocks after every 2nd block of fast res3
_C.MODEL.BACKBONE.SLOWFAST.FAST.CONV4_NONLOCAL = False  # non-local blocks after every 2nd block of fast res4
_C.MODEL.BACKBONE.SLOWFAST.FAST.CONV3_GROUP_NL = False  # fast res3 non-local attends within groups of 4 consecutive frames

_C.MODEL.NONLOCAL = CN()
_C.MODEL.NONLOCAL.CONV_INIT_STD = 0.01  # std of the normal init of the theta/phi/g/out 1x1x1 convs
_C.MODEL.NONLOCAL.USE_ZERO_INIT_CONV = False  # zero-initialise the out conv
_C.MODEL.NONLOCAL.NO_BIAS = False  # 1x1x1 convs without bias
_C.MODEL.NONLOCAL.USE_MAXPOOL = True  # (1,2,2) max-pool before phi and g
_C.MODEL.NONLOCAL.USE_SOFTMAX = True  # softmax-normalise the affinity over key positions
_C.MODEL.NONLOCAL.USE_SCALE = True  # scale the affinity by dim_inner^-0.5
_C.MODEL.NONLOCAL.USE_BN = True  # BN after the out conv
_C.MODEL.NONLOCAL.FROZEN_BN = False  # that BN as FrozenBatchNorm3d (buffers, never trained)
_C.MODEL.NONLOCAL.BN_MOMENTUM = 0.1  # its momentum (trainable BN)
_C.MODEL.NONLOCAL.BN_EPSILON = 1e-5  # its epsilon
_C.MODEL.NONLOCAL.BN_INIT_GAMMA = 0.0  # its initial gamma (0: a fresh block is the identity)

# ---------------------------------------------------------------------------------------------------
# ROI action head
# ---------------------------------------------------------------------------------------------------
_C.MODEL.ROI_ACTION_HEAD = CN()
_C.MODEL.ROI_ACTION_HEAD.FEATURE_EXTRACTOR = "2MLPFeatureExtractor"  # ROI pooling + two FC layers
_C.MODEL.ROI_ACTION_HEAD.POOLER_TYPE = "align3d"  # "align3d" (ROIAlign) or "pooling3d" (ROIPool)
_C.MODEL.ROI_ACTION_HEAD.POOLER_RESOLUTION = 7  # ROI output size (bins per side); also the spatial max-pool size
_C.MODEL.ROI_ACTION_HEAD.POOLER_SCALE = 1.0 / 16  # feature-map stride as a scale on input pixels
_C.MODEL.ROI_ACTION_HEAD.POOLER_SAMPLING_RATIO = 0  # samples per bin; 0 = adaptive ceil(roi/bin)
_C.MODEL.ROI_ACTION_HEAD.MEAN_BEFORE_POOLER = False  # True: average over time, then pool; False: pool every frame, then average
_C.MODEL.ROI_ACTION_HEAD.MLP_HEAD_DIM = 1024  # width of fc1 and fc2
_C.MODEL.ROI_ACTION_HEAD.PREDICTOR = "FCPredictor"  # dropout + linear classifier
_C.MODEL.ROI_ACTION_HEAD.DROPOUT_RATE = 0.0  # dropout before the classifier
_C.MODEL.ROI_ACTION_HEAD.NUM_CLASSES = 80  # total classes = pose + object + person groups
_C.MODEL.ROI_ACTION_HEAD.PROPOSAL_PER_CLIP = 10  # at most this many GT boxes are sampled per clip in training
_C.MODEL.ROI_ACTION_HEAD.NUM_PERSON_MOVEMENT_CLASSES = 14  # first logits: mutually exclusive pose classes (softmax)
_C.MODEL.ROI_ACTION_HEAD.NUM_OBJECT_MANIPULATION_CLASSES = 49  # next logits: object manipulation (sigmoid)
_C.MODEL.ROI_ACTION_HEAD.NUM_PERSON_INTERACTION_CLASSES = 17  # last logits: person interaction (sigmoid)
_C.MODEL.ROI_ACTION_HEAD.POSE_LOSS_WEIGHT = 1.2  # weight of the pose (softmax focal) loss
_C.MODEL.ROI_ACTION_HEAD.OBJECT_LOSS_WEIGHT = -1.0  # weight of the object loss; <0: the number of object classes (AlphAction)
_C.MODEL.ROI_ACTION_HEAD.PERSON_LOSS_WEIGHT = -1.0  # weight of the person loss; <0: the number of person classes (AlphAction)
_C.MODEL.ROI_ACTION_HEAD.TRAIN_BOX_JITTER = (0.2, 0.1, 0.1, 0.05)  # training box jitter: max x1/y1 shrink-grow as fractions of w/h
_C.MODEL.ROI_ACTION_HEAD.FOCAL_LOSS = CN()
_C.MODEL.ROI_ACTION_HEAD.FOCAL_LOSS.GAMMA = 2.0  # focal exponent of both losses (0 = plain CE / BCE)
_C.MODEL.ROI_ACTION_HEAD.FOCAL_LOSS.ALPHA = -1.0  # positive-class weight of the sigmoid loss; <0 disables it

# ---------------------------------------------------------------------------------------------------
# Clip classification head (MODEL.META_ARCHITECTURE "ClipClassifier")
# ---------------------------------------------------------------------------------------------------
_C.MODEL.CLIP_HEAD = CN()
_C.MODEL.CLIP_HEAD.NUM_CLASSES = 400  # classes of the clip classifier
_C.MODEL.CLIP_HEAD.DROPOUT_RATE = 0.5  # dropout on the pooled slow+fast features before the linear classifier
_C.MODEL.CLIP_HEAD.MULTI_LABEL = False  # False: one class per clip (softmax + cross-entropy); True: multi-hot (sigmoid + BCE)
_C.MODEL.CLIP_HEAD.CLASS_WEIGHTS = []  # per-class loss weights (NUM_CLASSES floats); empty = all 1
_C.MODEL.CLIP_HEAD.LABEL_SMOOTHING = 0.0  # label smoothing of the cross-entropy (single-label only)

# ---------------------------------------------------------------------------------------------------
# Interaction Aggregation (AlphAction's IA structure)
# ---------------------------------------------------------------------------------------------------
_C.MODEL.IA_STRUCTURE = CN()
_C.MODEL.IA_STRUCTURE.ACTIVE = False  # Interaction Aggregation (person / object / memory attention) before fc1
_C.MODEL.IA_STRUCTURE.STRUCTURE = "serial"  # "serial", "dense" (dense serial) or "parallel"
_C.MODEL.IA_STRUCTURE.MAX_PER_SEC = 5  # memory persons kept per second
_C.MODEL.IA_STRUCTURE.MAX_PERSON = 25  # persons per clip used as P keys
_C.MODEL.IA_STRUCTURE.DIM_IN = 2304  # memory feature width (backbone output)
_C.MODEL.IA_STRUCTURE.DIM_INNER = 512  # attention width
_C.MODEL.IA_STRUCTURE.DIM_OUT = 512  # IA output width
_C.MODEL.IA_STRUCTURE.PENALTY = True  # scale memory features by the loss-tag ratio in training
_C.MODEL.IA_STRUCTURE.LENGTH = (30, 30)  # memory seconds before / after
_C.MODEL.IA_STRUCTURE.MEMORY_RATE = 1  # step between memory seconds
_C.MODEL.IA_STRUCTURE.FUSION = "concat"  # "concat" or "add"
_C.MODEL.IA_STRUCTURE.CONV_INIT_STD = 0.01  # init std of IA convs
_C.MODEL.IA_STRUCTURE.DROPOUT = 0.0  # dropout inside IA blocks
_C.MODEL.IA_STRUCTURE.NO_BIAS = False  # IA convs without bias
_C.MODEL.IA_STRUCTURE.I_BLOCK_LIST = ["P", "O", "M", "P", "O", "M"]  # block order (list of lists for parallel)
_C.MODEL.IA_STRUCTURE.LAYER_NORM = False  # LayerNorm inside IA blocks
_C.MODEL.IA_STRUCTURE.TEMPORAL_POSITION = True  # learned temporal position embeddings for memory
_C.MODEL.IA_STRUCTURE.ROI_DIM_REDUCE = True  # AlphAction key (unused there too)
_C.MODEL.IA_STRUCTURE.USE_ZERO_INIT_CONV = True  # zero-init the output conv of each block
_C.MODEL.IA_STRUCTURE.MAX_OBJECT = 0  # objects per clip used as O keys (0 = no objects)
_C.MODEL.IA_STRUCTURE.MASK_PADDING = True  # mask padded P / O / M slots out of the attention (False = AlphAction's unmasked softmax, for its released weights)
_C.MODEL.IA_STRUCTURE.MEMORY_NORM = False  # LayerNorm (no affine, so no state-dict keys) on every row of the M key set (remembered persons and the clip's own) before mem_dim_reduce; not in AlphAction (see docs/IA.md: common-mode features leave the M blocks unused)
_C.MODEL.IA_STRUCTURE.QK_NORM = False  # LayerNorm (no affine, no state-dict keys) on each projected query and key before the attention, so the logits stay within +-sqrt(DIM_INNER); not in AlphAction (see docs/IA.md: with growing features the logits saturate and the attention freezes on one person)
_C.MODEL.IA_STRUCTURE.MEMORY_HALF = False  # keep the memory pool's person features in float16 (half the host memory; read back as float32)
_C.MODEL.IA_STRUCTURE.MEMORY_MAX_ENTRIES = 0  # at most this many (video, second) entries in the memory pool, least recently updated evicted first during training (0 = unbounded; the test-time pool holds the whole split)
_C.MODEL.IA_STRUCTURE.MEMORY_TEST_MODE = "offline"  # memory at test time: "offline" (two stages, LENGTH seconds before and after), "online" (past seconds only, as for streaming video) or "none" (no other seconds: what the memory adds)

# ---------------------------------------------------------------------------------------------------
# Input
# ---------------------------------------------------------------------------------------------------
_C.INPUT = CN()
_C.INPUT.MIN_SIZE_TRAIN = 256  # short side after resize (pixels), training
_C.INPUT.MAX_SIZE_TRAIN = 464  # long-side cap after resize (pixels), training
_C.INPUT.MIN_SIZE_TEST = 256  # short side after resize (pixels), testing
_C.INPUT.MAX_SIZE_TEST = 464  # long-side cap after resize (pixels), testing
_C.INPUT.PIXEL_MEAN = [122.7717, 115.9465, 102.9801]  # RGB mean on the 0-255 scale
_C.INPUT.PIXEL_STD = [57.375, 57.375, 57.375]  # RGB std on the 0-255 scale
_C.INPUT.TO_BGR = False  # feed BGR instead of RGB
_C.INPUT.FRAME_NUM = 32  # frames sampled around the keyframe
_C.INPUT.FRAME_SAMPLE_RATE = 2  # stride between sampled frames; the decoded span is FRAME_NUM * FRAME_SAMPLE_RATE
_C.INPUT.TAU = 8  # slow pathway takes every TAU-th sampled frame
_C.INPUT.ALPHA = 8  # slow/fast frame-rate ratio; fast takes every (TAU // ALPHA)-th sampled frame
_C.INPUT.SLOW_JITTER = False  # random slow start offset in [0, TAU-1] when training
_C.INPUT.COLOR_JITTER = False  # random HSV jitter per clip when training
_C.INPUT.HUE_JITTER = 20.0  # max hue shift (degrees)
_C.INPUT.SAT_JITTER = 0.1  # max saturation shift (fraction of 255)
_C.INPUT.VAL_JITTER = 0.1  # max value shift (fraction of 255)
_C.INPUT.CROP_SIZE = 0  # classification: square crop side after the resize (pixels; train random, test centre / 3 crops); 0 = no crop
# (MMAction2's and PySlowFast's rule for 0; with a rate, clips span the same seconds whatever each file's rate)
_C.INPUT.CLIP_FPS = 0.0  # classification: resample video files by time to this rate (nearest source frame) before sampling; 0 = own frames
_C.INPUT.NUM_CLIPS_TEST = 1  # classification: uniformly spaced temporal clips per video at test time (scores averaged)
_C.INPUT.BOX_CONVENTION = "continuous"  # box pixels: "continuous" (width x2 - x1) | "alphaction" (width x2 - x1 + 1, clip to W - 1; its released weights)
_C.INPUT.NUM_CROPS_TEST = 1  # classification: spatial crops per clip at test time, 1 (centre) or 3 (both ends + centre of the long side)

# ---------------------------------------------------------------------------------------------------
# Datasets and loading
# ---------------------------------------------------------------------------------------------------
_C.DATASETS = CN()
_C.DATASETS.TRAIN = ()  # catalog names used for training
_C.DATASETS.TEST = ()  # catalog names used for validation / testing
_C.DATASETS.TRAIN_SUBSET = None  # train on part of DATASETS.TRAIN: N (N evenly spaced samples) or a list of sample indices into their concatenation; None = all
_C.DATASETS.CATALOG = ""  # optional YAML/JSON file registering more datasets (see docs/datasets.md)

_C.DATALOADER = CN()
_C.DATALOADER.NUM_WORKERS = 4  # data-loading worker processes per rank
_C.DATALOADER.SIZE_DIVISIBILITY = 16  # batch H and W are padded up to a multiple of this
_C.DATALOADER.ASPECT_RATIO_GROUPING = True  # batch portrait and landscape clips separately
_C.DATALOADER.ON_BAD_SAMPLE = "error"  # an undecodable clip: "error" (stop, naming the file) or "skip" (drop it, count it in the log)
_C.DATALOADER.PREFETCH_FACTOR = 2  # batches each worker loads ahead (NUM_WORKERS > 0 only)
_C.DATALOADER.PIN_MEMORY = True  # page-locked host batches for faster copies (used only when training on a GPU)
_C.DATALOADER.INDEX_CACHE = True  # detection: cache the built dataset index next to the annotations; ranks memory-map it
_C.DATALOADER.CLASS_BALANCED_SAMPLING = False  # classification: draw training clips with replacement, each class equally often

# ---------------------------------------------------------------------------------------------------
# Solver
# ---------------------------------------------------------------------------------------------------
_C.SOLVER = CN()
_C.SOLVER.OPTIMIZER = "SGD"  # "SGD" (AlphAction), "Adam" or "AdamW"
_C.SOLVER.MAX_ITER = 75000  # training iterations
_C.SOLVER.BASE_LR = 0.02  # learning rate for VIDEOS_PER_BATCH clips
_C.SOLVER.BIAS_LR_FACTOR = 2  # lr multiplier for biases
_C.SOLVER.IA_LR_FACTOR = 1.0  # lr multiplier for IA parameters
_C.SOLVER.BACKBONE_LR_FACTOR = 1.0  # lr multiplier for backbone.* parameters (finetuning: e.g. 0.1)
_C.SOLVER.FREEZE_STAGES = 0  # freeze the first K backbone stages (1 = stems, 2..5 = + res stages 2..5); 0 = none
_C.SOLVER.SANITY_CHECK = True  # before training: one forward / backward on 2 samples; error if a trainable parameter gets no gradient; logs gradient norms per stage
_C.SOLVER.MOMENTUM = 0.9  # SGD momentum
_C.SOLVER.WEIGHT_DECAY = 1e-4  # weight decay for weights
_C.SOLVER.WEIGHT_DECAY_BIAS = 0.0  # weight decay for biases
_C.SOLVER.WEIGHT_DECAY_BN = 0.0  # weight decay for BatchNorm weights and biases
_C.SOLVER.SCHEDULER = "warmup_multi_step"  # "warmup_multi_step" or "half_period_cosine"
_C.SOLVER.GAMMA = 0.1  # lr factor at each step
_C.SOLVER.STEPS = (33750, 67500)  # iterations where the lr is multiplied by GAMMA
_C.SOLVER.WARMUP_ON = True  # warm the lr up at the start
_C.SOLVER.WARMUP_FACTOR = 1.0 / 3  # lr factor at iteration 0 of the warmup
_C.SOLVER.WARMUP_ITERS = 500  # warmup length (iterations)
_C.SOLVER.WARMUP_METHOD = "linear"  # "linear" or "constant"
_C.SOLVER.EPOCHS = 0.0  # > 0: schedule in epochs over DATASETS.TRAIN; sets MAX_ITER / WARMUP_ITERS / STEPS from the EPOCH keys
_C.SOLVER.WARMUP_EPOCHS = 0.0  # warmup length (epochs; only with EPOCHS > 0)
_C.SOLVER.STEP_EPOCHS = ()  # epochs where the lr is multiplied by GAMMA (only with EPOCHS > 0, warmup_multi_step)
_C.SOLVER.CHECKPOINT_PERIOD = 5000  # save model_XXXXXXX.pth every this many iterations (0 = only model_final.pth)
_C.SOLVER.CHECKPOINT_KEEP = 0  # keep only the newest this many periodic model_XXXXXXX.pth files (0 = keep all; model_final.pth is never deleted)
_C.SOLVER.EARLY_STOP_PATIENCE = 0  # stop after this many evaluations without TEST.BEST_METRIC improving (0 = off)
_C.SOLVER.EARLY_STOP_MIN_DELTA = 0.0  # an improvement must exceed this (metric units)
_C.SOLVER.EVAL_PERIOD = 5000  # validate every this many iterations (0 = only at the end)
_C.SOLVER.VIDEOS_PER_BATCH = 32  # clips per training iteration (global, over all ranks)
_C.SOLVER.LOG_PERIOD = 20  # log a line every this many iterations
_C.SOLVER.SCALE_LR_WITH_BATCH = False  # linear scaling rule: BASE_LR x k, STEPS / MAX_ITER / WARMUP_ITERS / k, k = VIDEOS_PER_BATCH / REFERENCE_VIDEOS_PER_BATCH
_C.SOLVER.REFERENCE_VIDEOS_PER_BATCH = 16  # global batch the BASE_LR and schedule of a config were tuned for (scaling rule only)
_C.SOLVER.AMP = "off"  # mixed precision through torch.autocast: "off", "bf16" or "fp16" (fp16 adds a GradScaler)
_C.SOLVER.GRAD_ACCUM_STEPS = 1  # micro-batches per optimizer step; each rank loads VIDEOS_PER_BATCH / (ranks x this) clips per micro-batch
_C.SOLVER.CLIP_GRAD_NORM = 0.0  # clip the global gradient L2 norm to this value before each step (0 = off)
_C.SOLVER.CHANNELS_LAST = False  # channels-last-3d memory format for the model and its clips (helps conv speed on recent GPUs)
_C.SOLVER.COMPILE = False  # torch.compile the model (first iterations slower while compiling; see docs/TRAINING.md)

# ---------------------------------------------------------------------------------------------------
# Test
# ---------------------------------------------------------------------------------------------------
_C.TEST = CN()
_C.TEST.VIDEOS_PER_BATCH = 16  # clips per inference batch (global)
_C.TEST.EXTEND_SCALE = (0.1, 0.05)  # test boxes widened by this fraction of width / height (in total)
_C.TEST.BOX_THRESH = 0.8  # detected person boxes below this score are ignored
_C.TEST.ACTION_THRESH = 0.05  # (box, action) pairs below this score are not written to result.csv
_C.TEST.CLASS_GROUPS = ()  # frame-mAP reported per named group of action ids, e.g. ("pose:1-5", "memory:11"); empty = the head's pose / object / interaction groups
_C.TEST.BEST_METRIC = ""  # keep OUTPUT_DIR/model_best.pth by this validation metric, e.g. "top1" or "-val_loss" ("-" = lower is better); "" = off

_C.OUTPUT_DIR = "."  # where checkpoints, logs and inference results go
