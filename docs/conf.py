"""Sphinx configuration of the broker's documentation (``make docs``)."""

from __future__ import annotations

import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
# The package and the server's settings are read from this checkout, not an installed copy;
# _ext holds the local extension settings_reference.
sys.path[:0] = [str(DOCS.parent), str(DOCS / "_ext")]

from flask_token_broker.version import VERSION  # noqa: E402 (needs the path above)

project = "Flask-Token-Broker"
version = release = VERSION
extensions = ["myst_parser", "sphinx.ext.autodoc", "settings_reference"]
# Links to README sections are written #like-this, as GitHub renders them.
myst_heading_anchors = 3
exclude_patterns = ["_build"]
html_theme = "furo"
html_title = f"{project} {VERSION}"
# Signatures keep their type hints; the names they use need not all be documented.
autodoc_typehints = "signature"
autodoc_member_order = "bysource"
# Pygments' JSX lexer does not know custom elements with a dash (<mindset-agent>): such a
# block is shown unhighlighted rather than failing the build.
suppress_warnings = ["misc.highlighting_failure"]
