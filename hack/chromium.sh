#!/usr/bin/env bash
# Installs Debian's chromium package for the mail view's browser test
# (functions/internal/devstack, TestMailViewInChromium). Idempotent: when
# chromium is already installed it only prints its path. Needs root (or
# sudo) and Debian's (or Ubuntu's) package repositories; elsewhere install
# Chromium yourself and set SOPAIPILLAS_CHROMIUM to its path.
set -o errexit -o nounset -o pipefail

if [ -n "${SOPAIPILLAS_CHROMIUM:-}" ] && [ -x "$SOPAIPILLAS_CHROMIUM" ]; then
	echo "$SOPAIPILLAS_CHROMIUM"
	exit 0
fi
if [ -x /usr/bin/chromium ]; then
	echo /usr/bin/chromium
	exit 0
fi

sudo=()
if [ "$(id -u)" != 0 ]; then
	if ! command -v sudo >/dev/null; then
		echo "chromium.sh: not root and no sudo: install Debian's chromium package (apt-get install chromium)" >&2
		exit 1
	fi
	sudo=(sudo)
fi
if ! command -v apt-get >/dev/null; then
	echo "chromium.sh: no apt-get: install Chromium and set SOPAIPILLAS_CHROMIUM to its path" >&2
	exit 1
fi
echo "chromium.sh: installing Debian's chromium package (once; about a minute)" >&2
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq >&2
"${sudo[@]}" apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >&2
echo /usr/bin/chromium
