"""Docstrings as Markdown: Google-style sections and the reStructuredText the core uses.

The adapters' docstrings are written once in ``multiloss/core`` (and by the adapters for
their classes): reStructuredText math (``.. math::`` blocks, ``:math:`` roles), double
back-quoted literals, cross-reference roles, and Google-style sections (``Args:``,
``Returns:``, ``References:``, ``Example:`` ...). :func:`to_markdown` turns one into
Markdown for the API reference: math as ``$...$`` / ``$$...$$`` (rendered to MathML at
build time by ``mathml.py``), argument lists as bullet lists, examples as code blocks.
"""

from __future__ import annotations

import re
import textwrap

#: Section headers, as Google style writes them (alone on a line, ending with a colon).
LIST_SECTIONS = {"Args", "Arguments", "Args (constructor)", "Parameters", "Attributes",
                 "Raises", "Keyword Args", "Keyword Arguments"}
TEXT_SECTIONS = {"Returns", "Return", "Yields", "Note", "Notes", "Warning", "See Also",
                 "See also"}
#: Sections of paragraphs (a paper, the peer calls that give the same numbers): one item each.
REFERENCE_SECTIONS = {"References", "Reference"}
CODE_SECTIONS = {"Example", "Examples"}
SECTIONS = LIST_SECTIONS | TEXT_SECTIONS | REFERENCE_SECTIONS | CODE_SECTIONS

_HEADER = re.compile(r"^([A-Z][A-Za-z ()]*):\s*$")
_NAME = r"\*{0,2}[A-Za-z_][\w.]*"
#: ``name (type): text``, or several names sharing one text (``chunk_size, z_loss: as ...``).
_ITEM = re.compile(rf"^({_NAME}(?:,\s*{_NAME})*)\s*(\([^)]*\))?\s*:\s*(.*)$")
_ROLE = re.compile(r":(?:py:)?(?:func|class|meth|attr|data|mod|obj|exc):`~?([^`]*)`")


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def rst_inline(text: str) -> str:
    """Inline reStructuredText as Markdown: math roles, literals, cross references."""
    text = re.sub(r":math:`([^`]*)`", lambda m: f"${m.group(1).strip()}$", text)
    text = _ROLE.sub(lambda m: f"`{m.group(1)}`", text)
    return re.sub(r"``(.+?)``", r"`\1`", text, flags=re.S)


def _literal_block(lines: list[str], start: int, indent: int) -> tuple[list[str], int]:
    """The indented block from ``lines[start]`` on (blank lines inside it kept, trailing
    ones dropped), dedented; and the index of the first line after it."""
    i, block = start, []
    while i < len(lines) and (not lines[i].strip() or _indent(lines[i]) > indent):
        block.append(lines[i])
        i += 1
    return textwrap.dedent("\n".join(block)).strip("\n").splitlines(), i


def rst_blocks(text: str) -> str:
    """reStructuredText prose as Markdown: ``.. math::`` blocks become ``$$`` blocks,
    literal blocks (a paragraph ending in ``::``) fenced Python code; inline markup
    (:func:`rst_inline`) is converted outside the code only."""
    prose: list[str] = []
    out: list[str] = []

    def flush() -> None:
        out.append(rst_inline("\n".join(prose)))
        prose.clear()

    lines = text.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.strip() == ".. math::":
            block, i = _literal_block(lines, i + 1, _indent(line))
            prose.extend(["", "$$", *(b.strip() for b in block if b.strip()), "$$", ""])
            continue
        if line.rstrip().endswith("::") and not line.lstrip().startswith(".."):
            block, after = _literal_block(lines, i + 1, _indent(line))
            if block:
                head = line.rstrip()[:-2].rstrip()
                if head:
                    prose.append(head + ("" if head.endswith(":") else ":"))
                flush()
                fence = "````" if any("```" in b for b in block) else "```"
                out.append(f"\n{fence}python\n" + "\n".join(block) + f"\n{fence}\n")
                i = after
                continue
        prose.append(line)
        i += 1
    flush()
    return "\n".join(out)


def _kind(name: str) -> str:
    """A section's kind: ``"Example (torch)"`` is an ``Example``, ``"Args (constructor)"`` Args."""
    return name if name in SECTIONS else name.split(" (")[0]


def _split_sections(doc: str) -> list[tuple[str | None, str]]:
    """``[(section or None, body)]``: prose at indent 0, each section with its body dedented."""
    parts: list[tuple[str | None, list[str]]] = [(None, [])]
    for line in doc.splitlines():
        header = _HEADER.match(line)
        if header and _kind(header.group(1)) in SECTIONS:
            parts.append((header.group(1), []))
        elif parts[-1][0] is not None and line.strip() and _indent(line) == 0:
            parts.append((None, [line]))  # prose again after a section
        else:
            parts[-1][1].append(line)
    return [(name, textwrap.dedent("\n".join(body)).strip("\n")) for name, body in parts
            if "".join(body).strip()]


def _list_section(body: str) -> str:
    """``name: text`` items (continuation lines indented) as a Markdown bullet list."""
    items: list[list[str]] = []
    for line in body.splitlines():
        match = _ITEM.match(line) if _indent(line) == 0 else None
        if match:
            name, kind, text = match.groups()
            label = ", ".join(f"**`{n.strip()}`**" for n in name.split(",")) + (
                f" {kind}" if kind else "")
            items.append([f"{label}: {text}".rstrip()])
        elif items and (_indent(line) > 0 or not line.strip()):
            items[-1].append(line.strip())
        elif line.strip():
            items.append([line.strip()])  # an entry without a name (a reference)
    return "\n".join("- " + rst_inline(" ".join(part for part in item if part)) for item in items)


def _paragraph_list(body: str) -> str:
    """Paragraphs (wrapped lines, blank lines between) as a Markdown bullet list."""
    paragraphs = [" ".join(p.split()) for p in re.split(r"\n\s*\n", body) if p.strip()]
    return "\n".join("- " + rst_inline(p) for p in paragraphs)


def _code_section(body: str) -> str:
    """An example: leading prose as text, the code (doctest or plain) as a code block."""
    lines = [line for line in body.splitlines()
             if not re.match(r"\s*\.\. (code-block|code|sourcecode)::", line)]
    code_starts = [i for i, line in enumerate(lines) if line.lstrip().startswith(">>>")]
    start = code_starts[0] if code_starts else 0
    prose = "\n".join(lines[:start]).strip()
    code = textwrap.dedent("\n".join(lines[start:])).strip("\n")
    language = "pycon" if code_starts else "python"
    fence = "````" if "```" in code else "```"
    parts = [rst_blocks(prose)] if prose else []
    return "\n\n".join([*parts, f"{fence}{language}\n{code}\n{fence}"])


def to_markdown(doc: str) -> str:
    """One docstring as Markdown; section titles become bold paragraphs (not in the TOC)."""
    out: list[str] = []
    for name, body in _split_sections(doc):
        if name is None:
            out.append(rst_blocks(body))
        elif _kind(name) in LIST_SECTIONS:
            out += [f"**{name}**", _list_section(body)]
        elif _kind(name) in REFERENCE_SECTIONS:
            out += [f"**{name}**", _paragraph_list(body)]
        elif _kind(name) in CODE_SECTIONS:
            out += [f"**{name}**", _code_section(body)]
        else:
            out += [f"**{name}**", rst_blocks(body)]
    return "\n\n".join(part.strip("\n") for part in out if part.strip()) + "\n"
