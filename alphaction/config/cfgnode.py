"""A yacs ``CfgNode`` with ``_BASE_`` inheritance and unknown-key errors that help."""

from __future__ import annotations

import ast
import difflib
import os
from typing import Any, Iterable

import yaml
from yacs.config import CfgNode as _YacsNode

from ..utils.errors import ConfigValueError, UserError

BASE_KEY = "_BASE_"


class ConfigError(UserError, KeyError):
    """An unknown key, a value of the wrong type or an unreadable config file; names the key or file and the fix."""

    __str__ = UserError.__str__  # KeyError would quote the message


def _all_keys(node: _YacsNode, prefix: str = "") -> list[str]:
    keys = []
    for k, v in node.items():
        full = f"{prefix}{k}"
        if isinstance(v, _YacsNode):
            keys.extend(_all_keys(v, full + "."))
        else:
            keys.append(full)
    return keys


def _flatten(d: dict, prefix: str = "") -> list[tuple[str, Any]]:
    items = []
    for k, v in d.items():
        full = f"{prefix}{k}"
        if isinstance(v, dict):
            items.extend(_flatten(v, full + "."))
        else:
            items.append((full, v))
    return items


def _deep_merge(base: dict, override: dict) -> dict:
    out = dict(base)
    for k, v in override.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = _deep_merge(out[k], v)
        else:
            out[k] = v
    return out


def load_yaml_with_base(path: str, _seen: tuple[str, ...] = ()) -> dict:
    """Read a YAML config (``yaml.safe_load``), resolving ``_BASE_`` (a path relative to the file) recursively."""
    path = os.path.abspath(path)
    if path in _seen:
        raise ConfigError(
            f"_BASE_ cycle through {' -> '.join(_seen)}",
            where=path,
            fix="make the _BASE_ chain end in a file without _BASE_",
        )
    if not os.path.isfile(path):
        raise ConfigError(
            f"config file not found: {path}",
            where="--config-file or _BASE_",
            fix="give the path of an existing YAML file (config_files/ holds the shipped ones)",
        )
    try:
        with open(path, encoding="utf-8") as f:
            data = yaml.safe_load(f) or {}
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark is not None else path
        raise ConfigError(
            f"not valid YAML: {getattr(e, 'problem', None) or e}",
            where=where,
            fix="correct the YAML syntax at that line (indentation, a missing ':' or quote)",
        ) from e
    except UnicodeDecodeError as e:
        raise ConfigError(
            f"not UTF-8 text (byte {e.start}: {e.object[e.start : e.start + 1]!r})",
            where=path,
            fix="save the config as UTF-8 text",
        ) from e
    if not isinstance(data, dict):
        raise ConfigError(
            f"a config file must hold a mapping of keys, got {type(data).__name__}",
            where=path,
            fix="write KEY: VALUE lines, e.g. SOLVER:\n  BASE_LR: 0.0004",
        )
    base = data.pop(BASE_KEY, None)
    if base is None:
        return data
    bases = [base] if isinstance(base, str) else list(base)
    merged: dict = {}
    for b in bases:
        b_path = b if os.path.isabs(b) else os.path.join(os.path.dirname(path), b)
        merged = _deep_merge(merged, load_yaml_with_base(b_path, _seen + (path,)))
    return _deep_merge(merged, data)


class CfgNode(_YacsNode):
    """yacs node whose merges check every key against the schema first and name the closest valid keys."""

    def _check_keys(self, keys: Iterable[str], source: str) -> None:
        valid = _all_keys(self)
        valid_set = set(valid)
        for key in keys:
            if key in valid_set:
                continue
            close = difflib.get_close_matches(key, valid, n=3, cutoff=0.6)
            fix = f"did you mean {', '.join(close)}?" if close else "see alphaction/config/defaults.py for the schema"
            raise ConfigError(f"unknown config key '{key}'", where=source, fix=fix)

    def _default(self, key: str) -> Any:
        node: Any = self
        for part in key.split("."):
            node = node[part]
        return node

    def _int_to_float(self, key: str, value: Any) -> Any:
        """An integer given for a float key (``SOLVER.EPOCHS 3``) becomes that float; yacs would refuse it."""
        if isinstance(self._default(key), float) and isinstance(value, int) and not isinstance(value, bool):
            return float(value)
        return value

    def merge_from_file(self, cfg_filename: str) -> None:
        data = load_yaml_with_base(cfg_filename)
        flat = _flatten(data)
        self._check_keys([k for k, _ in flat], cfg_filename)
        for key, value in flat:
            new = self._int_to_float(key, value)
            if new is not value:
                *parents, last = key.split(".")
                node = data
                for part in parents:
                    node = node[part]
                node[last] = new
        try:
            self.merge_from_other_cfg(type(self)(data))
        except ValueError as e:  # yacs: "Type mismatch (...) for config key: KEY"
            raise ConfigValueError(str(e), where=cfg_filename, fix=_type_fix(str(e))) from e

    def merge_from_list(self, cfg_list: list) -> None:
        if len(cfg_list) % 2:
            raise ConfigError(
                f"command-line overrides must come in KEY VALUE pairs; got an odd number ({len(cfg_list)}): "
                f"{' '.join(map(str, cfg_list))}",
                where="the command line",
                fix="give a value after every key (quote values with spaces, e.g. SOLVER.STEPS '(1200, 1600)')",
            )
        self._check_keys(cfg_list[0::2], "the command line")
        pairs = list(cfg_list)
        for i in range(0, len(pairs), 2):
            if isinstance(self._default(pairs[i]), float) and isinstance(pairs[i + 1], str):
                try:
                    value = ast.literal_eval(pairs[i + 1])
                except (ValueError, SyntaxError):
                    continue  # not a number: yacs reports the type mismatch
                pairs[i + 1] = self._int_to_float(pairs[i], value)
        try:
            super().merge_from_list(pairs)
        except ValueError as e:  # yacs: "Type mismatch (...) for config key: KEY"
            raise ConfigValueError(str(e), where="the command line", fix=_type_fix(str(e))) from e


def _type_fix(message: str) -> str:
    key = message.rsplit("config key:", 1)[-1].strip() if "config key:" in message else "the key"
    return f"give {key} a value of the type its default has (alphaction/config/defaults.py)"
