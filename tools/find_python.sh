#!/usr/bin/env bash
# Print the path of a Python interpreter >= 3.12 found on this machine, or explain and exit 1.
# Looked for, in order: $PYTHON, python3.12 / python3.13 / python3 on PATH, pyenv's
# installed versions, and /usr/bin/python3.1x. pyenv shims that point at a version that is
# not selected fail to run and are skipped.
set -u
ok() { "$1" -c 'import sys, venv, ensurepip; sys.exit(0 if sys.version_info >= (3, 12) else 1)' >/dev/null 2>&1; }
candidates=()
[ -n "${PYTHON:-}" ] && candidates+=("$PYTHON")
for name in python3.12 python3.13 python3.14 python3; do
    command -v "$name" >/dev/null 2>&1 && candidates+=("$(command -v "$name")")
done
root=$(pyenv root 2>/dev/null || echo "${PYENV_ROOT:-$HOME/.pyenv}")
for p in "$root"/versions/3.12*/bin/python3 "$root"/versions/3.13*/bin/python3 \
         /usr/bin/python3.12 /usr/bin/python3.13 /usr/local/bin/python3.12 /usr/local/bin/python3.13; do
    [ -x "$p" ] && candidates+=("$p")
done
for c in "${candidates[@]}"; do
    if ok "$c"; then echo "$c"; exit 0; fi
done
echo "error: no Python >= 3.12 with the venv module found (looked at \$PYTHON, python3.12," \
     "python3.13, python3.14 and python3 on PATH, $root/versions/3.1[23]*, /usr/bin/python3.1[23])." \
     "Install Python 3.12 (e.g. 'pyenv install 3.12' or 'apt-get install python3.13 python3.13-venv')" \
     "or set PYTHON=/path/to/python3.12." >&2
exit 1
