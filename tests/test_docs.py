"""The docs stay in step with the code: the per-family pages are regenerated from the
core docstrings, every loss has a docstring with a formula, a paper and its peer, and
the README's examples name only what exists."""

from __future__ import annotations

import importlib
import importlib.util
import json
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


FENCE = re.compile(r"^(`{3,}).*?^\1$", re.S | re.M)


@pytest.mark.parametrize("page", sorted((ROOT / "docs" / "losses").glob("*.md")), ids=lambda p: p.stem)
def test_generated_pages_are_markdown_not_indented_rest(page):
    """Sections are Markdown (not indented, which Markdown shows as a code block, math and
    all), and the examples are a user's (an adapter's), not the core doctest's get_ops."""
    text = page.read_text()
    prose = FENCE.sub("", text)
    indented = [line for line in prose.splitlines() if line.startswith("    ")]
    assert not indented, f"{page.name}: indented lines (a code block in Markdown): {indented[:3]}"
    for raw in (":math:", "``", ".. math::", "\nArgs:", "\nReferences:", "\nExample:"):
        assert raw not in prose, f"{page.name}: {raw!r} left as reStructuredText"
    assert "get_ops(" not in text, f"{page.name}: shows the core doctest"
    assert text.count("**Args**") >= 1 and "**Example (PyTorch)**\n\n```pycon\n" in text
    assert "](../reference/jax.md#" in text


def test_every_loss_and_stateful_class_has_an_example_on_its_page():
    text = "".join(p.read_text() for p in (ROOT / "docs" / "losses").glob("*.md"))
    assert text.count("**Example (PyTorch)**") == len(registry()) + len(stateful_registry())


@pytest.mark.parametrize("name", sorted(registry()))
def test_every_loss_documents_formula_paper_and_shapes(name):
    doc = registry()[name].doc
    assert ".. math::" in doc, f"{name}: no formula"
    assert "Returns:" in doc, f"{name}: no Returns section (output shape)"
    assert "Args:" in doc, f"{name}: no Args section"
    references = re.search(r"^References:\n((?:    .*\n|\n)+)", doc + "\n", re.MULTILINE)
    assert references, f"{name}: no References section (papers and peer calls)"
    assert re.search(r"https?://", references.group(1)), f"{name}: no paper link in References"
    assert "Paper:" not in doc and doc.count("References:") == 1, f"{name}: one References"
    assert not re.search(r"\bseed \d+", doc), f"{name}: names an internal seed"


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


# --- the docs site (mkdocs.yml, docs/hooks/, docs/figures.py, docs/check_site.py) ---------

DOCS = ROOT / "docs"


def _docs_module(relative: str):
    """The module of ``docs/<relative>``, loaded from its file under a private name: the
    generic names (``figures``, ``docstrings``, ``mathml``) are never importable from the
    test session, and ``sys.path`` is left as it was (a hook adds its own folder)."""
    path = DOCS / relative
    spec = importlib.util.spec_from_file_location(f"_multiloss_docs_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    saved_path = list(sys.path)
    try:
        spec.loader.exec_module(module)
    finally:
        sys.path[:] = saved_path
    return module


def _nav_pages() -> list[str]:
    import yaml

    def walk(node):
        if isinstance(node, str):
            yield node
        elif isinstance(node, list):
            for item in node:
                yield from walk(item)
        elif isinstance(node, dict):
            for value in node.values():
                yield from walk(value)

    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text())
    return list(walk(config["nav"]))


def test_site_has_the_pages_the_issue_asks_for():
    nav = _nav_pages()
    assert len(nav) >= 15, nav
    written = {str(p.relative_to(DOCS)) for p in DOCS.rglob("*.md")}
    generated = {f"reference/{a}.md" for a in ("torch", "jax", "tensorflow", "keras")}
    assert set(nav) <= written | generated, sorted(set(nav) - written - generated)
    assert not (written - set(nav)), f"pages missing from the nav: {sorted(written - set(nav))}"
    for page in ("quickstart.md", "choosing.md", "reductions.md", "benchmarks.md",
                 "large_vocab.md", *generated):
        assert page in nav, page
    assert len([p for p in nav if p.startswith("migration/")]) >= 6


def test_site_loads_nothing_from_the_network_by_configuration():
    config = (ROOT / "mkdocs.yml").read_text()
    assert "font: false" in config  # Material's default is Google Fonts
    assert not re.search(r"https?://", config), "mkdocs.yml names a URL (CDN script or style?)"


def test_figures_exist_and_every_page_figure_is_shown():
    figures = _docs_module("figures.py")

    assert len(figures.FIGURES) >= 5
    missing = [n for n in figures.FIGURES if not (figures.OUT / n).exists()]
    assert not missing, f"run python docs/figures.py: {missing}"
    assert figures.unreferenced() == []
    for name in figures.FIGURES:  # deterministic: no date, a fixed hash salt
        text = (figures.OUT / name).read_text()
        assert "<dc:date>" not in text, name


def test_figures_check_compares_the_stored_run_within_a_tolerance(tmp_path, monkeypatch, capsys):
    """The multi-task figure is drawn from the stored run; ``--check`` accepts a rerun that
    moved in its last bits (another CPU), flags one that moved more, and creates nothing."""
    figures = _docs_module("figures.py")
    stored = json.loads(figures.HISTORY.read_text())
    assert [step["step"] for step in stored] == list(range(len(stored)))
    assert {"mse", "cross_entropy", "log_vars"} <= set(stored[0])

    def nudged(factor: float) -> list[dict]:
        return [{**step, "log_vars": [v * factor + 1e-7 for v in step["log_vars"]],
                 "mse": step["mse"] * factor} for step in stored]

    assert figures.history_drift(stored, nudged(1 + 1e-4)) == ""
    assert figures.history_drift(stored, nudged(1 + 1e-2)).startswith("step 0, mse")
    assert "steps" in figures.history_drift(stored, stored[:-1])
    out = tmp_path / "docs" / "figures"
    monkeypatch.setattr(figures, "ROOT", tmp_path)
    monkeypatch.setattr(figures, "OUT", out)
    monkeypatch.setattr(figures, "HISTORY", out / figures.HISTORY.name)
    monkeypatch.setattr(figures, "FIGURES", {figures.MULTITASK: figures.multitask_weights})
    assert figures.main(["--check"]) == 1
    assert "missing: docs/figures/multitask_history.json" in capsys.readouterr().out
    assert not out.exists(), "--check created docs/figures/"


def test_check_site_flags_every_kind_of_network_load(tmp_path):
    check_site = _docs_module("check_site.py")

    (tmp_path / "index.html").write_text(
        '<script src="https://cdn.jsdelivr.net/npm/mathjax@3/es5/tex-mml-chtml.js"></script>\n'
        '<link rel="stylesheet" href="//fonts.googleapis.com/css?family=Roboto">\n'
        '<script src="assets/local.js"></script><a href="https://arxiv.org/abs/1708.02002">paper</a>\n'
        '<img alt="a > b" src="https://example.org/img.png"><img src="figures/local.svg">\n'
        "<IFRAME width=10 src='https://example.org/frame'></IFRAME>\n"
        '<video src="https://example.org/v.mp4" poster="//example.org/poster.png">'
        '<source src="https://example.org/v.webm"></video>\n'
        '<audio controls src="http://example.org/a.ogg"></audio>\n'
        '<embed src="//example.org/e.swf"><object data="https://example.org/o.pdf"></object>\n'
    )
    (tmp_path / "extra.css").write_text('@import url("https://fonts.googleapis.com/x.css");\n')
    found = check_site.external_loads(tmp_path)
    assert len(found) == 11, found
    for url in ("example.org/img.png", "example.org/frame", "example.org/v.mp4",
                "example.org/poster.png", "example.org/v.webm", "http://example.org/a.ogg",
                "example.org/e.swf", "example.org/o.pdf"):
        assert any(line.endswith(url) for line in found), (url, found)
    assert not any("arxiv" in line or "local" in line for line in found), found
    assert check_site.main([str(tmp_path)]) == 1
    (tmp_path / "index.html").write_text('<script src="assets/local.js"></script>')
    (tmp_path / "extra.css").write_text("body { color: black; }")
    assert check_site.main([str(tmp_path)]) == 0


def test_docstring_sections_become_markdown():
    to_markdown = _docs_module("hooks/docstrings.py").to_markdown

    doc = (
        "Focal loss.\n\n.. math::\n\n    \\ell = -(1 - p_t)^\\gamma \\log p_t\n\n"
        "With :math:`\\gamma \\ge 0` and ``reduction``.\n\n"
        "Args:\n    y_pred (torch.Tensor): logits, shape\n        ``[B, C]``.\n"
        "    gamma: the focusing exponent.\n\n"
        "Returns:\n    A scalar.\n\n"
        "References:\n    Lin et al. 2017, https://arxiv.org/abs/1708.02002\n\n"
        "Example:\n    >>> import multiloss.torch as ml\n    >>> ml.cross_entropy(x, y)\n"
    )
    md = to_markdown(doc)
    assert "$$\n\\ell = -(1 - p_t)^\\gamma \\log p_t\n$$" in md
    assert "$\\gamma \\ge 0$ and `reduction`" in md
    assert "- **`y_pred`** (torch.Tensor): logits, shape `[B, C]`." in md
    assert "- **`gamma`**: the focusing exponent." in md
    assert "**Returns**\n\nA scalar." in md
    assert "- Lin et al. 2017, https://arxiv.org/abs/1708.02002" in md
    assert "```pycon\n>>> import multiloss.torch as ml\n>>> ml.cross_entropy(x, y)\n```" in md
    assert "    " not in md  # nothing left indented (Markdown would make it a code block)


def test_docstring_references_literal_blocks_and_shared_args():
    to_markdown = _docs_module("hooks/docstrings.py").to_markdown

    doc = (
        "Head.\n\nBuilt as ``Head(V)``::\n\n    head = Head(10)\n    y = head(``x``)\n\n"
        "Then :math:`y`.\n\n"
        "Args:\n    chunk_size, z_loss:\n        as ``f``.\n\n"
        "References:\n    Cortes & Vapnik (1995),\n    https://doi.org/10.1007/BF00994018; more.\n\n"
        "    Same numbers as ``keras.losses.hinge``.\n"
    )
    md = to_markdown(doc)
    assert "Built as `Head(V)`:\n\n```python\nhead = Head(10)\ny = head(``x``)\n```" in md
    assert "Then $y$." in md
    assert "- **`chunk_size`**, **`z_loss`**: as `f`." in md
    assert ("- Cortes & Vapnik (1995), https://doi.org/10.1007/BF00994018; more.\n"
            "- Same numbers as `keras.losses.hinge`.") in md


def test_math_converts_to_mathml_or_fails_loudly():
    mathml = _docs_module("hooks/mathml.py")
    convert_html, to_mathml = mathml.convert_html, mathml.to_mathml

    assert to_mathml(r"\alpha_t (1 - p_t)^\gamma", display=False).startswith("<math")
    with pytest.raises(ValueError):
        to_mathml(r"\notacommand x", display=True)
    page = ('<p><span class="arithmatex">\\(a &lt; b\\)</span></p>'
            '<div class="arithmatex">\\[\\sum_i x_i\\]</div>')
    out = convert_html(page)
    assert "arithmatex" not in out and out.count("<math") == 2 and "&#x0003C;" in out


def test_keras_layer_is_a_public_name_of_multiloss_keras():
    """``LinearCrossEntropyHead`` is written by hand, not generated: it is an extra of the
    adapter's namespace, so ``__all__``, ``dir()`` and the reference page list it."""
    import multiloss.keras as mk
    from multiloss._keras_head import LinearCrossEntropyHead

    assert "LinearCrossEntropyHead" in mk.__all__ and "LinearCrossEntropyHead" in dir(mk)
    assert mk.LinearCrossEntropyHead is LinearCrossEntropyHead
    namespace = {}
    exec("from multiloss.keras import *", namespace)
    assert namespace["LinearCrossEntropyHead"] is LinearCrossEntropyHead


@pytest.mark.cross_framework
def test_api_reference_names_every_public_name_of_every_adapter():
    api_reference = _docs_module("hooks/api_reference.py")

    for adapter in api_reference.ADAPTERS:
        module = importlib.import_module(f"multiloss.{adapter}")
        page = api_reference.render(adapter)
        names = module.__all__
        for name in names:
            assert f"| [`{name}`](#" in page, f"{adapter}: {name} not in the index table"
            obj = getattr(module, name)
            if getattr(obj, "__name__", name) == name:  # aliases point at their class
                assert f"### `{name}` {{#{name}}}" in page, f"{adapter}: no section for {name}"
        sample = "cross_entropy"
        order = "y_true, y_pred" if adapter == "keras" else "y_pred, y_true"
        assert f"multiloss.{adapter}.{sample}({order}, *," in page
    keras_page = api_reference.render("keras")  # a hand-written layer among the generated names
    assert "### `LinearCrossEntropyHead` {#LinearCrossEntropyHead}" in keras_page
