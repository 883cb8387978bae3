#!/usr/bin/env bash
# Installs the npm tools of `make test` (hack/clients/package.json, pinned by
# its package-lock.json: openapi-typescript, openapi-fetch, typescript,
# @redocly/cli, @asyncapi/cli) into a cache directory kept per lock file, and prints that
# directory; its node_modules/.bin holds the commands. Needs node and npm.
set -o errexit -o nounset -o pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
src="$root/hack/clients"
command -v npm >/dev/null || { echo "hack/clients.sh: npm not found; install Node.js 20+ with npm" >&2; exit 1; }
sum=$( (cat "$src/package-lock.json"; node --version) | sha256sum | cut -c1-16)
dir="${XDG_CACHE_HOME:-$HOME/.cache}/sopaipillas/npm-$sum"
if [ ! -f "$dir/.complete" ]; then
	rm -rf "$dir"
	mkdir -p "$dir"
	cp "$src/package.json" "$src/package-lock.json" "$dir/"
	(cd "$dir" && npm ci --no-audit --no-fund --loglevel=error >&2)
	touch "$dir/.complete"
fi
echo "$dir"
