"""Every test a document names exists: ``tests/<file>.py`` and ``tests/<file>.py::<test>`` references in the docs
(docs/MODEL_ZOO.md's compatibility table backs each claim with one) point at a file and a test defined in it."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = re.compile(r"(tests/[\w/]+\.py)(?:::(\w+))?")


def test_tests_named_in_the_docs_exist():
    documents = sorted((ROOT / "docs").glob("*.md")) + [ROOT / "README.md"]
    found, missing = 0, []
    for doc in documents:
        for path, name in REFERENCE.findall(doc.read_text(encoding="utf-8")):
            found += 1
            source = ROOT / path
            if not source.is_file():
                missing.append(f"{doc.name}: {path} does not exist")
            elif name and not re.search(rf"^def {name}\(", source.read_text(encoding="utf-8"), re.MULTILINE):
                missing.append(f"{doc.name}: {path} defines no test {name}")
    assert found > 20  # the compatibility table alone names more
    assert not missing, "\n".join(missing)
