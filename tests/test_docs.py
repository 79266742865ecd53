"""The docs stay in step with the code: the per-family pages are regenerated from the
core docstrings, every loss has a docstring with a formula, a paper and its peer, and
the README's examples name only what exists."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from multiloss.core import registry, stateful_registry

ROOT = Path(__file__).resolve().parent.parent


def test_generated_pages_are_up_to_date():
    result = subprocess.run(
        [sys.executable, str(ROOT / "docs" / "build_pages.py"), "--check"],
        capture_output=True, text=True, cwd=ROOT,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("name", sorted(registry()))
def test_every_loss_documents_formula_paper_and_shapes(name):
    doc = registry()[name].doc
    assert ".. math::" in doc, f"{name}: no formula"
    assert re.search(r"https?://", doc), f"{name}: no paper link"
    assert "Returns:" in doc, f"{name}: no Returns section (output shape)"
    assert "Args:" in doc, f"{name}: no Args section"


def test_mkdocs_nav_lists_every_family_page():
    nav = (ROOT / "mkdocs.yml").read_text()
    pages = sorted(p.name for p in (ROOT / "docs" / "losses").glob("*.md"))
    missing = [p for p in pages if f"losses/{p}" not in nav]
    assert not missing, f"mkdocs.yml nav lacks {missing}"


def test_readme_names_only_existing_losses_and_classes():
    readme = (ROOT / "README.md").read_text()
    names = set(registry()) | set(stateful_registry())
    names |= {spec.class_name for spec in registry().values() if spec.class_name}
    names |= {"LinearCrossEntropyHead"}  # multiloss.keras' vocabulary-head layer
    used = set(re.findall(r"ml\.([A-Za-z_0-9]+)\(", readme))
    assert used <= names, f"README uses unknown names {sorted(used - names)}"
    for name in registry():
        assert f"`{name}`" in readme, f"README's loss table lacks {name}"
