"""MkDocs hook: LaTeX math as MathML, converted at build time (no script, no network).

``pymdownx.arithmatex`` (generic mode) finds the math of a page — ``$...$`` and
``$$...$$`` in Markdown, which is also what the API reference makes of the docstrings'
``:math:`` roles and ``.. math::`` blocks — and leaves it, HTML-escaped, in
``<span class="arithmatex">\\(...\\)</span>`` / ``<div class="arithmatex">\\[...\\]</div>``.
This hook replaces each with the MathML ``latex2mathml`` writes; browsers render MathML
natively. A formula that does not convert is a warning, so ``mkdocs build --strict``
fails on it.
"""

from __future__ import annotations

import html
import logging
import re

from latex2mathml.converter import convert

log = logging.getLogger("mkdocs.hooks.mathml")

_MATH = re.compile(
    r'<(?P<tag>span|div) class="arithmatex">\s*(?:\\\((?P<inline>.*?)\\\)|\\\[(?P<block>.*?)\\\])'
    r"\s*</(?P=tag)>",
    re.S,
)
_UNCONVERTED = re.compile(r"\\[A-Za-z]+")


def to_mathml(latex: str, display: bool) -> str:
    """One formula as a ``<math>`` element; raises ``ValueError`` if it does not convert."""
    try:
        mathml = convert(latex.strip(), display="block" if display else "inline")
    except Exception as error:  # latex2mathml raises its own exception types
        raise ValueError(f"{type(error).__name__}: {error}") from error
    left = set(_UNCONVERTED.findall(mathml))
    if left:
        raise ValueError(f"unknown commands {sorted(left)}")
    return mathml


def convert_html(text: str, where: str = "") -> str:
    """Every arithmatex span / div of ``text`` replaced by MathML (warnings for failures)."""

    def replace(match: re.Match) -> str:
        display = match.group("block") is not None
        latex = html.unescape(match.group("block") if display else match.group("inline"))
        try:
            mathml = to_mathml(latex, display)
        except ValueError as error:
            log.warning("%s: formula %r does not convert to MathML: %s", where, latex, error)
            return match.group(0)
        return f'<div class="math">{mathml}</div>' if display else mathml

    return _MATH.sub(replace, text)


def on_page_content(html_text, page, config, files):
    """MkDocs: the page's math as MathML."""
    return convert_html(html_text, page.file.src_uri)
