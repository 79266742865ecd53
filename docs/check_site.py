"""Check that a built site loads nothing from the network.

    python docs/check_site.py site/     # exit 1 and list them if any page or style sheet
                                        # loads a script, style, font or media by URL

Looks at every ``<script src>``, ``<link href>`` (style sheets, fonts, preloads), embedded
content (``<img src/srcset>``, ``<iframe src>``, ``<source src/srcset>``, ``<audio src>``,
``<video src>`` / ``<video poster>``, ``<embed src>``, ``<object data>``) and CSS
``@import`` / ``url()`` in the HTML and CSS files of the site: none may start with
``http://``, ``https://`` or ``//``. Plain links to papers (``<a href>``) are fine.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

EXTERNAL = r"""(?:https?:)?//[^"'\s)>]+"""
#: HTML element -> the attributes of it that the browser loads (unlike ``<a href>``,
#: a link the reader may follow).
LOADING_ATTRIBUTES = {
    "script": ("src",),
    "link": ("href",),
    "img": ("src", "srcset"),
    "iframe": ("src",),
    "source": ("src", "srcset"),
    "audio": ("src",),
    "video": ("src", "poster"),
    "embed": ("src",),
    "object": ("data",),
}
#: An element's opening tag: its name, then its attributes (a quoted ">" included).
TAG = re.compile(rf"""<({'|'.join(LOADING_ATTRIBUTES)})\b((?:"[^"]*"|'[^']*'|[^"'>])*)>""", re.I)
CSS_PATTERNS = (
    re.compile(rf"""@import\s+(?:url\()?\s*["']?({EXTERNAL})""", re.I),
    re.compile(rf"""url\(\s*["']?({EXTERNAL})""", re.I),
)


def _attribute(name: str) -> re.Pattern:
    return re.compile(rf"""\b{name}\s*=\s*["']?({EXTERNAL})""", re.I)


ATTRIBUTES = {tag: [_attribute(a) for a in names] for tag, names in LOADING_ATTRIBUTES.items()}


def _urls(text: str) -> list[str]:
    """The URLs ``text`` (HTML or CSS) loads: in the loading attributes of its elements
    (every one of each element), then in CSS ``@import`` and ``url()``."""
    urls = [url for tag, attributes in TAG.findall(text)
            for pattern in ATTRIBUTES[tag.lower()] for url in pattern.findall(attributes)]
    return urls + [url for pattern in CSS_PATTERNS for url in pattern.findall(text)]


def external_loads(site: Path) -> list[str]:
    """``"file: url"`` for every script, style sheet, import, font or media loaded by URL."""
    found = []
    for path in sorted(site.rglob("*")):
        if path.suffix not in (".html", ".css") or not path.is_file():
            continue
        text = path.read_text(errors="replace")
        urls = _urls(text)
        found += [f"{path.relative_to(site)}: {url}" for url in dict.fromkeys(urls)]
    return found


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    site = Path(args[0] if args else "site")
    pages = list(site.rglob("*.html"))
    if not pages:
        print(f"no HTML under {site}: build the site first (mkdocs build)")
        return 1
    found = external_loads(site)
    for line in found:
        print(f"loads from the network: {line}")
    print(f"{len(pages)} pages, {len(found)} external loads")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
