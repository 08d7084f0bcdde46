"""docs/pipeline.md documents every configuration key of the schema (and no key twice per
section), so that a new key cannot land undocumented."""

import re
from pathlib import Path

from multiscale.pipeline.config import SCHEMA

DOC = Path(__file__).resolve().parents[1] / "docs" / "pipeline.md"


def _documented_keys() -> set[str]:
    """Keys named in the first column of the docs' key tables."""
    return set(re.findall(r"^\| `([A-Za-z_0-9]+)` \|", DOC.read_text(), flags=re.M))


def test_every_schema_key_is_documented():
    documented = _documented_keys()
    missing = sorted(
        f"{section}.{key}" for section, keys in SCHEMA.items() for key in keys
        if key not in documented
    )  # fmt: skip
    assert not missing, f"keys missing from docs/pipeline.md: {missing}"
