#!/usr/bin/env bash
# Launch (or resume) a finetuning run after checking the environment and the datasets.
#
#   bash tools/finetune_quickstart.sh CONFIG [--num-gpus N] [--new-classes] [--resume] [--dry-run]
#                                     [--skip-data-check] [extra KEY VALUE ...]
#
#   --num-gpus N        N > 1 runs `torchrun --nproc_per_node=N train_net.py`, else `python train_net.py`
#   --new-classes       your class list differs from MODEL.WEIGHT's: adds --transfer --no-head on a fresh start
#   --resume            continue OUTPUT_DIR/last_checkpoint (an error when there is none); never adds
#                       --transfer / --no-head
#   --dry-run           check the environment, print the commands, run nothing
#   --skip-data-check   do not run tools/validate_dataset.py first
#   KEY VALUE ...       config overrides passed on to train_net.py (e.g. SOLVER.MAX_ITER 1000)
# Environment: PYTHON (default python), TORCHRUN (default torchrun).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PYTHON="${PYTHON:-python}"
TORCHRUN="${TORCHRUN:-torchrun}"

usage() { sed -n '2,15p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }
die() { echo "finetune_quickstart: error: $*" >&2; exit 1; }

CONFIG=""
NUM_GPUS=1
NEW_CLASSES=0
RESUME=0
DRY_RUN=0
DATA_CHECK=1
EXTRA=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    -h|--help) usage; exit 0 ;;
    --num-gpus) [[ $# -ge 2 ]] || die "--num-gpus needs a number"; NUM_GPUS="$2"; shift 2 ;;
    --num-gpus=*) NUM_GPUS="${1#*=}"; shift ;;
    --new-classes) NEW_CLASSES=1; shift ;;
    --resume) RESUME=1; shift ;;
    --dry-run) DRY_RUN=1; shift ;;
    --skip-data-check) DATA_CHECK=0; shift ;;
    --*) die "unknown option $1 (see --help)" ;;
    *) if [[ -z "$CONFIG" ]]; then CONFIG="$1"; else EXTRA+=("$1"); fi; shift ;;
  esac
done
[[ -n "$CONFIG" ]] || { usage >&2; die "give the config file first"; }
[[ -f "$CONFIG" ]] || die "config file not found: $CONFIG (write one with python tools/generate_finetune_config.py)"
[[ "$NUM_GPUS" =~ ^[1-9][0-9]*$ ]] || die "--num-gpus must be a positive integer, got '$NUM_GPUS'"
(( ${#EXTRA[@]} % 2 == 0 )) || die "extra config overrides must come in KEY VALUE pairs: ${EXTRA[*]}"

# --- environment -------------------------------------------------------------------------------------------
GPUS="$("$PYTHON" -c 'import sys; sys.path.insert(0, sys.argv[1]); import alphaction, torch; print(torch.cuda.device_count())' "$ROOT" 2>/dev/null)" \
  || die "'$PYTHON' cannot import alphaction and torch: activate the environment (pip install -e . in $ROOT)"
echo "environment: $("$PYTHON" -c 'import sys, torch; print(f"python {sys.version.split()[0]}, torch {torch.__version__}")'), $GPUS GPU(s) visible"
if (( NUM_GPUS > 1 && GPUS < NUM_GPUS )); then
  if (( DRY_RUN )); then
    echo "warning: --num-gpus $NUM_GPUS but torch sees $GPUS GPU(s); the run would fail here" >&2
  else
    die "--num-gpus $NUM_GPUS but torch sees $GPUS GPU(s) (CUDA_VISIBLE_DEVICES='${CUDA_VISIBLE_DEVICES:-}'); lower --num-gpus"
  fi
fi
if (( GPUS == 0 )); then
  echo "note: no GPU: training runs on the CPU (fine for the synthetic configs, far too slow for R50/R101)"
fi

# --- the merged config: datasets, catalog, frame span, OUTPUT_DIR --------------------------------------------
read_cfg() {
  "$PYTHON" - "$ROOT" "$CONFIG" "$@" <<'PY'
import sys
sys.path.insert(0, sys.argv[1])
from alphaction.config import get_cfg
cfg = get_cfg()
cfg.merge_from_file(sys.argv[2])
cfg.merge_from_list(sys.argv[3:])
print(cfg.OUTPUT_DIR)
print(cfg.DATASETS.CATALOG)
print(cfg.INPUT.FRAME_NUM, cfg.INPUT.FRAME_SAMPLE_RATE, cfg.MODEL.ROI_ACTION_HEAD.NUM_CLASSES)
print(" ".join(dict.fromkeys(list(cfg.DATASETS.TRAIN) + list(cfg.DATASETS.TEST))))
PY
}
CFG_INFO="$(read_cfg "${EXTRA[@]+"${EXTRA[@]}"}")" || die "cannot read $CONFIG with the overrides ${EXTRA[*]+${EXTRA[*]}} (message above)"
OUTPUT_DIR="$(sed -n 1p <<<"$CFG_INFO")"
CATALOG="$(sed -n 2p <<<"$CFG_INFO")"
read -r FRAME_NUM SAMPLE_RATE NUM_CLASSES <<<"$(sed -n 3p <<<"$CFG_INFO")"
read -r -a DATASETS <<<"$(sed -n 4p <<<"$CFG_INFO")"

# --- datasets ----------------------------------------------------------------------------------------------
VALIDATE=("$PYTHON" "$ROOT/tools/validate_dataset.py" "${DATASETS[@]}" --frame-num "$FRAME_NUM"
          --sample-rate "$SAMPLE_RATE" --num-classes "$NUM_CLASSES" --quick)
[[ -n "$CATALOG" ]] && VALIDATE+=(--catalog "$CATALOG")
if (( DATA_CHECK )); then
  if (( DRY_RUN )); then
    echo "would check the datasets: ${VALIDATE[*]}"
  else
    echo "checking the datasets: ${DATASETS[*]}"
    "${VALIDATE[@]}" || die "the dataset check failed (report above); fix the data or the catalog, or pass --skip-data-check"
  fi
fi

# --- fresh start or resume ---------------------------------------------------------------------------------
FLAGS=(--config-file "$CONFIG" --use-tfboard)
if [[ -f "$OUTPUT_DIR/last_checkpoint" ]]; then
  echo "resuming from $OUTPUT_DIR/$(cat "$OUTPUT_DIR/last_checkpoint") (optimizer, schedule and iteration included)"
  (( NEW_CLASSES )) && echo "note: --new-classes ignored on a resume (the checkpoint already has your head)"
else
  (( RESUME )) && die "--resume: $OUTPUT_DIR/last_checkpoint does not exist; nothing to resume (drop --resume to start)"
  (( NEW_CLASSES )) && FLAGS+=(--transfer --no-head)
fi

if (( NUM_GPUS > 1 )); then
  CMD=("$TORCHRUN" --nproc_per_node="$NUM_GPUS" "$ROOT/train_net.py" "${FLAGS[@]}")
else
  CMD=("$PYTHON" "$ROOT/train_net.py" "${FLAGS[@]}")
fi
CMD+=("${EXTRA[@]+"${EXTRA[@]}"}")

cat <<EOF
logs:         $OUTPUT_DIR/log.txt (merged config: $OUTPUT_DIR/config.yaml)
TensorBoard:  tensorboard --logdir $OUTPUT_DIR/tb
checkpoints:  $OUTPUT_DIR/model_XXXXXXX.pth, $OUTPUT_DIR/model_final.pth ($OUTPUT_DIR/last_checkpoint names the latest)
results:      $OUTPUT_DIR/inference/<dataset>/result.csv
resume:       bash tools/finetune_quickstart.sh $CONFIG --num-gpus $NUM_GPUS --resume
EOF
printf 'command:     '; printf ' %q' "${CMD[@]}"; printf '\n'
(( DRY_RUN )) && exit 0
exec "${CMD[@]}"
