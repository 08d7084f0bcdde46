#!/usr/bin/env bash
# Create .venv with a Python >= 3.12 and install the project (editable) into it.
# Idempotent: the install is skipped when pyproject.toml has not changed since the last
# successful install (the stamp holds its hash). pip's cache is kept, so a reinstall after
# a change does not download torch again.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=.venv
STAMP=$VENV/.install-stamp
want=$(sha256sum pyproject.toml | cut -d' ' -f1)
if [ -x "$VENV/bin/python" ] && "$VENV/bin/python" -c 'import sys; sys.exit(sys.version_info < (3, 12))' 2>/dev/null; then
    if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$want" ]; then
        exit 0
    fi
else
    rm -rf "$VENV"
    py=$(bash tools/find_python.sh)
    echo "setup: creating $VENV with $py ($("$py" --version 2>&1))"
    "$py" -m venv "$VENV"
fi
echo "setup: installing the project and its dependencies into $VENV (first time: a few minutes; torch is large)"
"$VENV/bin/python" -m pip install --quiet --upgrade pip
"$VENV/bin/python" -m pip install --quiet -e ".[dev]"
echo "$want" > "$STAMP"
echo "setup: done"
