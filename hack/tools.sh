#!/usr/bin/env bash
# Install the pinned Go tools the deployment tests call into ./bin (git-ignored):
# helm, kubeconform and kustomize. A tool already there at the pinned version
# is not rebuilt, so `make tools` is cheap after the first run.
#
#   hack/tools.sh            install what is missing
#   hack/tools.sh versions   print the pinned versions
#
# Environment:
#   TOOLS_BIN   (<repo>/bin)  where the binaries go
set -o errexit -o nounset -o pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
bin="${TOOLS_BIN:-$root/bin}"

# name|module@version|version the binary prints (module path without @ for
# `go version -m`).
tools=(
	"helm|helm.sh/helm/v3/cmd/helm@v3.22.0"
	"kubeconform|github.com/yannh/kubeconform/cmd/kubeconform@v0.8.0"
	"kustomize|sigs.k8s.io/kustomize/kustomize/v5@v5.7.1"
)

# installed_version prints the main module version recorded in a Go binary,
# or nothing when the binary is missing or not a Go binary.
installed_version() {
	[[ -x "$1" ]] || return 0
	go version -m "$1" 2>/dev/null | awk '$1 == "mod" { print $3; exit }'
}

if [[ "${1:-}" == "versions" ]]; then
	printf '%s\n' "${tools[@]}"
	exit 0
fi

mkdir -p "$bin"
for entry in "${tools[@]}"; do
	name="${entry%%|*}"
	pkg="${entry#*|}"
	want="${pkg##*@}"
	have="$(installed_version "$bin/$name")"
	if [[ "$have" == "$want" ]]; then
		echo "tools: $name $want already in $bin"
		continue
	fi
	echo "tools: installing $name $want into $bin"
	start=$SECONDS
	GOBIN="$bin" GOFLAGS= go install "$pkg"
	echo "tools: $name $want built in $((SECONDS - start))s"
done
