#!/usr/bin/env bash
# One command for a machine with CUDA GPUs: the CUDA-only tests, training throughput of R50-4x16 and R101-8x8 at
# AlphAction's input size (fp32, bf16, bf16 + channels-last, bf16 + compile: clips/s, MFU against the card's
# peak, peak memory), the data loader with 8 workers, a DDP run (2 processes when 2 GPUs exist, else 1-process
# NCCL) and the inference path. Each step runs under its own time limit and goes on after a failure; JSON per
# step, steps.tsv (step, status, seconds) and summary.md / summary.json end up in OUT_DIR.
#
#   bash tools/gpu_check.sh [OUT_DIR]          # default OUT_DIR: gpu_check_<date>
#   GPU_CHECK_SMOKE=1 bash tools/gpu_check.sh OUT_DIR
#
# GPU_CHECK_SMOKE=1 runs the same steps on the CPU at toy sizes (the default R14 config, 1 iteration, no compile,
# 0 loader workers, a 1-process gloo run, a 3-s video): it checks the plumbing where no GPU is at hand (tests).
# Budget on one H100: about 8 minutes (GPU_CHECK_ITERS iterations per training measurement, default 10).
set -u
cd "$(dirname "$0")/.."
OUT=${1:-gpu_check_$(date +%Y%m%d_%H%M%S)}
SMOKE=${GPU_CHECK_SMOKE:-0}
ITERS=${GPU_CHECK_ITERS:-10}
PY=${PYTHON:-python}
mkdir -p "$OUT/logs"
: > "$OUT/steps.tsv"

step() {  # step NAME SECONDS COMMAND...: run with a time limit, log it, record status and seconds
    local name=$1 limit=$2
    shift 2
    local start end status
    start=$(date +%s)
    echo "== $name (limit ${limit}s)"
    timeout --kill-after=10 "$limit" "$@" > "$OUT/logs/$name.log" 2>&1
    status=$?
    end=$(date +%s)
    printf '%s\t%s\t%s\n' "$name" "$status" "$((end - start))" >> "$OUT/steps.tsv"
    [[ $status -eq 0 ]] || echo "   $name failed (status $status): see $OUT/logs/$name.log"
}

# the machine
"$PY" - > "$OUT/machine.json" <<'EOF'
import json, os, platform, torch
gpus = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
print(json.dumps({"python": platform.python_version(), "torch": torch.__version__, "cuda": torch.version.cuda,
                  "gpus": gpus, "cpus": os.cpu_count()}, indent=2))
EOF
NGPU=$("$PY" -c "import torch; print(torch.cuda.device_count())")
if [[ $SMOKE != 1 && $NGPU -lt 1 ]]; then
    echo "error: no CUDA device visible to torch (see $OUT/machine.json)" >&2
    echo "fix: run on a GPU machine, or GPU_CHECK_SMOKE=1 for the CPU plumbing check" >&2
    exit 2
fi
# peak dense TFLOPs of the card (bf16 tensor cores; TF32 for fp32 convolutions): MFU's denominator; 0 = unknown
read -r PEAK_BF16 PEAK_TF32 < <("$PY" - <<'EOF'
import torch
name = torch.cuda.get_device_name(0) if torch.cuda.is_available() else ""
table = [("H200", 989, 494), ("H100 PCIe", 756, 378), ("H100", 989, 494), ("A100", 312, 156), ("L40S", 362, 181),
         ("L4", 121, 60), ("A10", 125, 62), ("V100", 125, 15.7)]
print(*next(((b, t) for key, b, t in table if key in name), (0, 0)))
EOF
)

if [[ $SMOKE == 1 ]]; then
    DEVICE=cpu
    CONFIGS=("r14:")
    MODES=("fp32:off:" "bf16:bf16:")
    ITERS=1
    WARM=1
    BATCH=(SOLVER.VIDEOS_PER_BATCH 2)
else
    DEVICE=cuda
    CONFIGS=("r50:config_files/resnet50_4x16f_baseline.yaml" "r101:config_files/resnet101_8x8f_baseline.yaml")
    MODES=("fp32:off:" "bf16:bf16:" "bf16_cl:bf16:SOLVER.CHANNELS_LAST True" "bf16_compile:bf16:SOLVER.COMPILE True")
    WARM=3
    BATCH=(SOLVER.VIDEOS_PER_BATCH 8)  # per GPU, AlphAction's 256-px short side and 64 / 32-frame input
fi

# 1. the tests that need CUDA (they skip on the CPU; their files say so with the reason "needs a CUDA device")
mapfile -t CUDA_TESTS < <(grep -rlF 'reason="needs a CUDA device"' tests --include='test_*.py' | sort)
step cuda_tests 240 "$PY" -m pytest -q -rs -p no:cacheprovider "${CUDA_TESTS[@]}"

# 2. training throughput
for c in "${CONFIGS[@]}"; do
    cname=${c%%:*}
    cfile=${c#*:}
    for m in "${MODES[@]}"; do
        IFS=: read -r mname amp extra <<< "$m"
        peak=$PEAK_BF16
        [[ $amp == off ]] && peak=$PEAK_TF32
        # shellcheck disable=SC2086  # extra holds "KEY VALUE" on purpose
        step "train_${cname}_${mname}" 150 "$PY" tools/benchmark_train.py ${cfile:+--config-file "$cfile"} \
            --amp "$amp" --iters "$ITERS" --warmup "$WARM" --peak-tflops "$peak" \
            --out "$OUT/train_${cname}_${mname}.json" MODEL.DEVICE "$DEVICE" "${BATCH[@]}" $extra
    done
done

# 3. the data loader (the tiny synthetic set, made on first use)
QUICK=config_files/quick_schedules/synthetic_tiny_r14.yaml
if [[ $SMOKE == 1 ]]; then LOADER=(--workers 0 --batches 1 --samples 2); else LOADER=(--workers 0 8 --batches 20 --samples 16); fi
step loader 150 "$PY" tools/benchmark_loader.py --config-file "$QUICK" "${LOADER[@]}" --out "$OUT/loader.json" \
    SOLVER.VIDEOS_PER_BATCH 8

# 4. distributed training: 2 processes on 2 GPUs, else one NCCL process (gloo on the CPU)
NPROC=1
[[ $NGPU -ge 2 && $SMOKE != 1 ]] && NPROC=2
step ddp 180 "$PY" -m torch.distributed.run --standalone --nproc_per_node="$NPROC" train_net.py \
    --config-file "$QUICK" --skip-final-test MODEL.DEVICE "$DEVICE" SOLVER.MAX_ITER 20 \
    SOLVER.VIDEOS_PER_BATCH $((2 * NPROC)) OUTPUT_DIR "$OUT/ddp_run"

# 5. inference: the streaming demo and recognize() on a synthetic 720p video
if [[ $SMOKE == 1 ]]; then DUR=3; else DUR=60; fi
step inference 180 "$PY" tools/benchmark_inference.py --durations "$DUR" --device "$DEVICE" --skip in_memory \
    --work "$OUT/inference_work" --out "$OUT/inference.json"

"$PY" - "$OUT" <<'EOF'
import glob, json, os, sys
out = sys.argv[1]
steps = [line.split("\t") for line in open(os.path.join(out, "steps.tsv")).read().splitlines()]
machine = json.load(open(os.path.join(out, "machine.json")))
rows = []
for path in sorted(glob.glob(os.path.join(out, "train_*.json"))):
    mode = json.load(open(path))["modes"][0]
    rows.append({"run": os.path.basename(path)[6:-5], "clips_per_s": mode["clips_per_s"],
                 "s_per_iter": mode["s_per_iter"], "mfu": mode.get("mfu"), "peak_mem_mb": mode["peak_mem_mb"]})
summary = {"machine": machine, "steps": [{"step": s, "status": int(c), "seconds": int(t)} for s, c, t in steps],
           "train": rows}
for name in ("loader", "inference"):
    p = os.path.join(out, f"{name}.json")
    summary[name] = json.load(open(p)) if os.path.isfile(p) else None
json.dump(summary, open(os.path.join(out, "summary.json"), "w"), indent=2)
lines = [f"# gpu_check: {', '.join(machine['gpus']) or 'no GPU (smoke run on the CPU)'}", "",
         f"torch {machine['torch']}, CUDA {machine['cuda']}", "", "| step | status | seconds |", "|---|---|---|"]
lines += [f"| {s} | {'ok' if c == '0' else 'FAILED ' + c} | {t} |" for s, c, t in steps]
lines += ["", "| training run | clips/s | s/iter | MFU | peak memory (MB) |", "|---|---|---|---|---|"]
lines += [f"| {r['run']} | {r['clips_per_s']:.2f} | {r['s_per_iter']:.3f} | "
          f"{'' if r['mfu'] is None else format(r['mfu'], '.1%')} | {r['peak_mem_mb']:.0f} |" for r in rows]
open(os.path.join(out, "summary.md"), "w").write("\n".join(lines) + "\n")
print("\n".join(lines))
EOF
echo "wrote $OUT/summary.md"
failed=$(awk -F'\t' '$2 != 0' "$OUT/steps.tsv" | wc -l)
[[ $failed -eq 0 ]]
