"""Every command of the user docs' ```bash blocks that runs one of our tools exists and accepts its flags.

Commands starting with ``python tools/``, ``python train_net.py``, ``python test_net.py``, ``bash tools/`` (and
``torchrun ... train_net.py|test_net.py``) are taken from the docs below. Python tools are run through their
``main(argv)`` with ``ArgumentParser.parse_args`` patched to stop right after a successful parse (nothing is read
or written); ``train_net.py`` / ``test_net.py`` arguments are parsed and the config is loaded with the trailing
``KEY VALUE`` overrides (unknown keys fail); ``bash tools/finetune_quickstart.sh`` runs with ``--dry-run``.
Placeholder config paths are replaced by real configs (``SUBSTITUTE``). The whole chain on real (synthetic) data
runs in ``test_pipeline_from_raw.py``.

Exclusions (not checked here, with the reason):
- ``pip install ...``, ``tensorboard ...``: not our tools.
- ``python -m torch.distributed.launch ...``: the same train_net.py flags as the torchrun / python lines.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import re
import shlex
import subprocess
import sys

import pytest

from alphaction.engine.defaults import REPO_ROOT, default_argument_parser, load_config, resolve_config_path

DOCS = [
    "docs/GETTING_STARTED.md",
    "docs/CUSTOM_DATASET_PREPARATION.md",
    "docs/DATA.md",
    "docs/IA.md",
    "docs/CLASSIFICATION.md",
    "docs/EXPORT.md",
    "docs/LABELLING.md",
]
PREFIXES = (
    "python tools/",
    "python projects/",
    "python train_net.py",
    "python test_net.py",
    "bash tools/",
    "torchrun ",
)
BASE = "config_files/resnet50_4x16f_baseline.yaml"
# placeholders of the docs -> files that exist (the generated my_config.yaml is made by the fixture)
SUBSTITUTE = {
    "YOUR_CONFIG.yaml": BASE,
    # written by the documented `ablate.py --head-only` run before it is tested again (docs/IA.md)
    "data/output/head_only/slowfast_r14_cpu_ia_denseserial/config.yaml": (
        "config_files/synthetic/slowfast_r14_cpu_ia_denseserial.yaml"
    ),
}


def doc_commands() -> list[tuple[str, str]]:
    out = []
    for doc in DOCS:
        text = open(os.path.join(REPO_ROOT, doc), encoding="utf-8").read()
        for block in re.findall(r"```bash\n(.*?)```", text, flags=re.S):
            block = re.sub(r"\\\n\s*", " ", block)
            for line in block.splitlines():
                for part in line.split("&&"):
                    cmd = part.strip()
                    if cmd.startswith(PREFIXES):
                        out.append((doc, cmd))
    return out


COMMANDS = doc_commands()


def test_the_docs_have_commands():
    tools = {shlex.split(c)[1] for _, c in COMMANDS if not c.startswith("torchrun")}
    assert {
        "tools/prepare_ava_videos.py",
        "tools/ava_csv_to_coco.py",
        "tools/detect_boxes.py",
        "tools/validate_dataset.py",
        "tools/generate_finetune_config.py",
        "tools/finetune_quickstart.sh",
        "tools/demo.py",
        "train_net.py",
        "test_net.py",
    } <= tools


class _Parsed(Exception):
    pass


@pytest.fixture(scope="module")
def my_config(tmp_path_factory):
    """config_files/my_config.yaml of the docs, generated into a temporary folder."""
    from tools import generate_finetune_config

    path = tmp_path_factory.mktemp("cfg") / "my_config.yaml"
    assert (
        generate_finetune_config.main(
            [
                "--dataset-train",
                "synthetic_tiny_train",
                "--dataset-test",
                "synthetic_tiny_val",
                "--num-classes",
                "12",
                "--class-groups",
                "5",
                "3",
                "4",
                "--output",
                str(path),
                "--output-dir",
                str(path.parent / "out"),
            ]
        )
        == 0
    )
    return str(path)


def _substitute(argv: list[str], my_config: str) -> list[str]:
    subs = dict(
        SUBSTITUTE, **{"config_files/my_config.yaml": my_config, "data/output/my_config/config.yaml": my_config}
    )
    return [subs.get(a, a) for a in argv]


@pytest.mark.parametrize("doc,cmd", COMMANDS, ids=[f"{os.path.basename(d)}:{c[:60]}" for d, c in COMMANDS])
def test_doc_command_parses(doc, cmd, my_config, monkeypatch):
    argv = _substitute(shlex.split(cmd), my_config)
    if argv[0] == "torchrun":
        script = next(a for a in argv if a.endswith(("train_net.py", "test_net.py")))
        argv = ["python"] + argv[argv.index(script) :]
    script = argv[1]
    assert os.path.isfile(os.path.join(REPO_ROOT, script)), f"{doc}: {script} does not exist"
    if argv[0] == "bash":
        if "--resume" in argv:  # resuming needs a run to resume: a stand-in last_checkpoint
            out = os.path.join(os.path.dirname(my_config), "out")
            os.makedirs(out, exist_ok=True)
            with open(os.path.join(out, "last_checkpoint"), "w") as f:
                f.write("model_0000010.pth")
        res = subprocess.run(
            ["bash", os.path.join(REPO_ROOT, script), *argv[2:], "--dry-run", "--skip-data-check"],
            capture_output=True,
            text=True,
            cwd=REPO_ROOT,
            timeout=120,
            env=dict(os.environ, PYTHON=sys.executable),
        )
        assert res.returncode == 0, f"{doc}: {cmd}\n{res.stdout}\n{res.stderr}"
        assert "command:" in res.stdout
        if "--resume" in argv:
            os.remove(os.path.join(os.path.dirname(my_config), "out", "last_checkpoint"))
            assert "--transfer" not in res.stdout.split("command:")[1]
        elif "--new-classes" in argv:  # a fresh start for new classes loads the backbone only
            assert "--use-tfboard --transfer --no-head" in res.stdout.split("command:")[1]
        return
    if script in ("train_net.py", "test_net.py"):
        args = default_argument_parser(train=script == "train_net.py").parse_args(argv[2:])
        monkeypatch.chdir(REPO_ROOT)
        assert os.path.isfile(resolve_config_path(args.config_file)), f"{doc}: {args.config_file} not found"
        load_config(args)  # the config file loads and every KEY VALUE override is a known key
        return
    if script.startswith("projects/"):  # a project's script imports its sibling modules: import it as a package
        module = importlib.import_module(script[:-3].replace("/", "."))
    else:
        spec = importlib.util.spec_from_file_location(
            f"doc_tool_{os.path.basename(script)[:-3]}", os.path.join(REPO_ROOT, script)
        )
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    original = argparse.ArgumentParser.parse_args

    def parse_then_stop(self, args=None, namespace=None):
        raise _Parsed(original(self, args, namespace))

    original_intermixed = argparse.ArgumentParser.parse_intermixed_args

    def intermixed_then_stop(self, args=None, namespace=None):
        raise _Parsed(original_intermixed(self, args, namespace))

    monkeypatch.setattr(argparse.ArgumentParser, "parse_args", parse_then_stop)
    monkeypatch.setattr(argparse.ArgumentParser, "parse_intermixed_args", intermixed_then_stop)
    with pytest.raises(_Parsed):
        try:
            module.main(argv[2:])
        except SystemExit as e:  # argparse rejected the flags
            pytest.fail(f"{doc}: {cmd}: the arguments do not parse (exit {e.code})")


def test_training_commands_on_a_users_dataset_name_their_own_output_folder():
    # a run resumes whatever run its OUTPUT_DIR holds: a user's dataset must not land in a base config's folder
    user_runs = [(doc, c) for doc, c in COMMANDS if "train_net.py" in c and "DATASETS.CATALOG" in c]
    assert user_runs
    for doc, cmd in user_runs:
        assert "OUTPUT_DIR" in shlex.split(cmd), f"{doc}: {cmd}"
