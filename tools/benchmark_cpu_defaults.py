#!/usr/bin/env python
"""Training step time on the CPU under the settings a user gets, side by side; prints (and optionally saves) JSON.

Each variant runs ``tools/benchmark_train.py`` (the default config unless --config-file; random clips of its
shape, so the model alone is timed) in a child process of its own, because the allocator settings act at process
start. Variants are alternated round by round (A B C, B C A, ...) so that a machine whose load drifts affects all
alike; the medians over the rounds are reported with each child's minor page faults and system time.

- ``plain_fp32``: ``python train_net.py`` as shipped before: fp32, glibc's default allocator settings;
- ``docs_bf16_tunables``: the CPU command docs/TRAINING.md used to give: ``SOLVER.AMP bf16`` with
  ``GLIBC_TUNABLES`` (no mmap for large blocks, no trimming);
- ``shipped_fp32``: what ``python train_net.py`` does now (``alphaction.utils.cpu_tuning``: fp32, the tunables
  applied by a one-time re-execution);
- with ``--compile``: ``shipped_fp32_compile`` (``SOLVER.COMPILE True``; compilation is in the warm-up).

    python tools/benchmark_cpu_defaults.py [--rounds 3] [--iters 6] [--warmup 2] [--compile] [--variants ...] \
        [--config-file FILE] [--out FILE] [KEY VALUE ...]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

from alphaction.utils.cpu_tuning import ALLOCATOR_TUNABLES
from alphaction.utils.report import emit_json

HERE = os.path.dirname(os.path.abspath(__file__))


def _variants(with_compile: bool) -> dict[str, tuple[dict, str, list[str]]]:
    """name -> (extra environment, AMP mode, extra overrides)."""
    tuned = {"GLIBC_TUNABLES": ALLOCATOR_TUNABLES}
    out = {"plain_fp32": ({}, "off", []), "docs_bf16_tunables": (tuned, "bf16", []), "shipped_fp32": (tuned, "off", [])}
    if with_compile:
        out["shipped_fp32_compile"] = (tuned, "off", ["SOLVER.COMPILE", "True"])
    return out


def run_variant(env_extra: dict, amp: str, overrides: list[str], args) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "GLIBC_TUNABLES"}
    env.update(env_extra)
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as f:
        out = f.name
    cmd = [
        sys.executable,
        os.path.join(HERE, "benchmark_train.py"),
        "--amp",
        amp,
        "--iters",
        str(args.iters),
        "--warmup",
        str(args.warmup),
        "--out",
        out,
    ]
    if args.config_file:
        cmd += ["--config-file", args.config_file]
    proc = subprocess.Popen(
        cmd + list(args.opts) + overrides, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    _, status, usage = os.wait4(proc.pid, 0)
    err = proc.stderr.read()
    proc.stderr.close()
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"benchmark_train.py failed ({' '.join(cmd)}):\n{err[-2000:]}")
    with open(out) as f:
        mode = json.load(f)["modes"][0]
    os.remove(out)
    return {
        "s_per_iter": mode["s_per_iter"],
        "forward_s": mode["phase_s"]["forward"],
        "backward_s": mode["phase_s"]["backward"],
        "minor_faults": usage.ru_minflt,
        "system_s": usage.ru_stime,
        "peak_rss_mb": usage.ru_maxrss / 1024,
    }


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--config-file", default="")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--iters", type=int, default=6)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--compile", action="store_true", help="add the SOLVER.COMPILE variant")
    p.add_argument("--variants", nargs="+", default=None, help="run only these (plain_fp32 is always the reference)")
    p.add_argument("--out", default="")
    p.add_argument("opts", nargs=argparse.REMAINDER, help="KEY VALUE overrides for every variant")
    args = p.parse_args(argv)
    variants = _variants(args.compile)
    if args.variants:
        variants = {n: v for n, v in variants.items() if n in set(args.variants) | {"plain_fp32"}}
    names = list(variants)
    runs: dict[str, list[dict]] = {n: [] for n in names}
    for r in range(args.rounds):
        order = names[r % len(names) :] + names[: r % len(names)]
        for name in order:
            runs[name].append(run_variant(*variants[name], args))
            print(f"round {r + 1} {name}: {runs[name][-1]['s_per_iter']:.3f} s/iter", file=sys.stderr)
    report = {
        "config": args.config_file or "default (config_files/synthetic/slowfast_r14_cpu.yaml)",
        "overrides": args.opts,
        "cpus": os.cpu_count(),
        "rounds": args.rounds,
        "iters": args.iters,
        "warmup": args.warmup,
        "allocator_tunables": ALLOCATOR_TUNABLES,
        "variants": {},
    }
    base = statistics.median(x["s_per_iter"] for x in runs["plain_fp32"])
    for name in names:
        med = {k: statistics.median(x[k] for x in runs[name]) for k in runs[name][0]}
        med["speed_vs_plain_fp32"] = base / med["s_per_iter"]
        report["variants"][name] = {"median": med, "runs": runs[name]}
    emit_json(report, args.out or None)
    return report


if __name__ == "__main__":
    main()
