"""Sphinx configuration: Markdown pages (MyST) and API pages from numpydoc docstrings."""

project = "multiscale-echem"
author = "the multiscale-echem developers"
extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "numpydoc",
]
source_suffix = {".md": "markdown", ".rst": "restructuredtext"}
root_doc = "index"
exclude_patterns = ["_build"]
myst_enable_extensions = ["dollarmath", "amsmath"]
myst_heading_anchors = 3
numpydoc_show_class_members = False
numpydoc_validation_checks: set[str] = set()
autodoc_member_order = "bysource"
autodoc_typehints = "none"  # the numpydoc sections state types and units
html_theme = "furo"
html_title = "multiscale-echem"
suppress_warnings = ["myst.xref_missing"]
