"""Check that a built site loads nothing from the network.

    python docs/check_site.py site/     # exit 1 and list them if any page or style sheet
                                        # loads a script, style sheet or font by URL

Looks at every ``<script src>``, ``<link href>`` (style sheets, fonts, preloads) and CSS
``@import`` / ``url()`` in the HTML and CSS files of the site: none may start with
``http://``, ``https://`` or ``//``. Plain links to papers (``<a href>``) are fine.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

EXTERNAL = r"""(?:https?:)?//[^"'\s)]+"""
PATTERNS = (
    re.compile(rf"""<script\b[^>]*\bsrc\s*=\s*["']?({EXTERNAL})""", re.I),
    re.compile(rf"""<link\b[^>]*\bhref\s*=\s*["']?({EXTERNAL})""", re.I),
    re.compile(rf"""@import\s+(?:url\()?\s*["']?({EXTERNAL})""", re.I),
    re.compile(rf"""url\(\s*["']?({EXTERNAL})""", re.I),
)


def external_loads(site: Path) -> list[str]:
    """``"file: url"`` for every script, style sheet, import or font loaded by URL."""
    found = []
    for path in sorted(site.rglob("*")):
        if path.suffix not in (".html", ".css") or not path.is_file():
            continue
        text = path.read_text(errors="replace")
        urls = [url for pattern in PATTERNS for url in pattern.findall(text)]
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
