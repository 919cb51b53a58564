"""Benchmark reports: JSON on stdout and, when asked, in a file."""

from __future__ import annotations

import json


def emit_json(report: dict, path: str | None = None) -> str:
    """Print ``report`` as indented JSON and write the same text to ``path`` (if given); returns the text."""
    text = json.dumps(report, indent=2)
    print(text)
    if path:
        with open(path, "w", encoding="utf-8") as f:
            f.write(text + "\n")
    return text
