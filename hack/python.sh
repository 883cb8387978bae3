#!/usr/bin/env bash
# Installs the Python tools of `make test` (hack/python/requirements.txt) into
# a virtual environment cached per requirements file, and prints the path of
# its python. Needs python3 (3.10 or later) with the venv module.
set -o errexit -o nounset -o pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
req="$root/hack/python/requirements.txt"
python=${PYTHON:-python3}
command -v "$python" >/dev/null || { echo "hack/python.sh: $python not found; install Python 3.10+ with venv" >&2; exit 1; }
sum=$( (cat "$req"; "$python" --version) | sha256sum | cut -c1-16)
venv="${XDG_CACHE_HOME:-$HOME/.cache}/sopaipillas/venv-$sum"
if [ ! -x "$venv/bin/python" ] || [ ! -f "$venv/.complete" ]; then
	rm -rf "$venv"
	mkdir -p "$(dirname "$venv")"
	"$python" -m venv "$venv" >&2
	"$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$req" >&2
	touch "$venv/.complete"
fi
echo "$venv/bin/python"
