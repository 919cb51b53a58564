"""A yacs ``CfgNode`` with ``_BASE_`` inheritance and unknown-key errors that help."""
from __future__ import annotations

import ast
import difflib
import os
from typing import Any, Iterable

import yaml
from yacs.config import CfgNode as _YacsNode

BASE_KEY = "_BASE_"


class ConfigError(KeyError):
    """An unknown key or an unreadable config file; the message names the key, the file and what to do."""

    def __str__(self) -> str:  # KeyError quotes its message; show it plainly
        return str(self.args[0]) if self.args else ""


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
        raise ConfigError(f"{path}: _BASE_ cycle through {' -> '.join(_seen)}")
    if not os.path.isfile(path):
        raise ConfigError(f"config file not found: {path}")
    with open(path, encoding="utf-8") as f:
        try:
            data = yaml.safe_load(f) or {}
        except yaml.YAMLError as e:
            raise ConfigError(f"{path}: not valid YAML: {e}") from e
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a config file must hold a mapping of keys, got {type(data).__name__}")
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
            hint = f"; did you mean {', '.join(close)}?" if close else "; see alphaction/config/defaults.py for the schema"
            raise ConfigError(f"unknown config key '{key}' in {source}{hint}")

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
        self.merge_from_other_cfg(type(self)(data))

    def merge_from_list(self, cfg_list: list) -> None:
        if len(cfg_list) % 2:
            raise ConfigError(
                f"command-line overrides must come in KEY VALUE pairs; got an odd number: {cfg_list}"
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
        super().merge_from_list(pairs)
