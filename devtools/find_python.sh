#!/bin/sh
# Print the path of a Python >= 3.12 interpreter, or explain and exit 1.
# Order: $PYTHON, the version named in .python-version, then any python3.1x on PATH or in pyenv.
want=$(cat "$(dirname "$0")/../.python-version" 2>/dev/null)
pyenv_root=${PYENV_ROOT:-$HOME/.pyenv}
for candidate in "${PYTHON:-}" "python$want" "$pyenv_root/versions/$want"*/bin/python \
    python3.14 python3.13 python3.12 "$pyenv_root"/versions/3.1[2-9]*/bin/python python3 python; do
  [ -n "$candidate" ] || continue
  path=$(command -v "$candidate" 2>/dev/null) || continue
  if "$path" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 12) else 1)' 2>/dev/null; then
    "$path" -c 'import sys; print(sys.executable)'
    exit 0
  fi
done
echo "citreg needs Python 3.12 or newer and none was found." >&2
echo "Install one (e.g. 'pyenv install 3.12') or point PYTHON at it: make run PYTHON=/path/to/python3.12" >&2
exit 1
