#!/usr/bin/env bash
# Build and cache the control plane that k8s/platform_test.go applies the
# deployment to: etcd, kube-apiserver and kubectl, and Knative Serving's and
# Eventing's webhooks and Serving's controller. Each is built from the Go
# module proxy through a wrapper module in hack/platform/ (its go.mod and
# go.sum pin every version; nothing of upstream is copied here), once, under
# a lock, so concurrent runs share one build. The CRDs, configmaps and
# webhook configurations come from the same modules' config/ folders and are
# cached beside the binaries.
#
#   hack/platform.sh build   build what is missing, print the cache dir
#   hack/platform.sh dir     print the cache dir (built or not)
#
# Cache layout (<dir> = $SOPAIPILLAS_CACHE/platform-<hash of hack/platform/>):
#   <dir>/bin/{etcd,kube-apiserver,kubectl,serving-webhook,serving-controller,eventing-webhook}
#   <dir>/config/{serving,eventing,networking,caching}/   each module's config/ folder
#   <dir>/versions      module@version per line
#   <dir>/.ready        present once all of the above is there
#
# Environment:
#   SOPAIPILLAS_CACHE    cache root (${XDG_CACHE_HOME:-$HOME/.cache}/sopaipillas)
set -o errexit -o nounset -o pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
WRAP=$HERE/platform
CACHE_ROOT=${SOPAIPILLAS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/sopaipillas}
# Knative refuses an API server whose version it cannot parse; a build outside
# Kubernetes' own scripts would report v0.0.0-master.
KUBE_VERSION=v1.37.2

die() { echo "platform.sh: $*" >&2; exit 1; }

# The cache key covers every wrapper file and the Go toolchain.
key=$( (cd "$WRAP" && find . -type f -print0 | sort -z | xargs -0 sha256sum; go env GOVERSION) | sha256sum | cut -c1-12)
CACHE=$CACHE_ROOT/platform-$key

gobuild() { # <wrapper> <name> <package> [ldflags]: build into bin/<name> unless there
	local out=$CACHE/bin/$2 start=$SECONDS
	[[ -x $out ]] && return 0
	(cd "$WRAP/$1" && GOFLAGS=-mod=readonly go build -trimpath -ldflags "-s -w ${4:-}" -o "$out.tmp" "$3")
	mv "$out.tmp" "$out"
	echo "platform.sh: built $2 in $((SECONDS - start))s" >&2
}

build() {
	[[ -f $CACHE/.ready ]] && return 0
	mkdir -p "$CACHE/bin"
	(
		flock 9
		[[ -f $CACHE/.ready ]] && exit 0
		echo "platform.sh: building etcd, kube-apiserver and Knative into $CACHE (once; minutes)" >&2
		local start=$SECONDS v=k8s.io/component-base/version
		gobuild etcd etcd .
		gobuild knative serving-webhook knative.dev/serving/cmd/webhook
		gobuild knative serving-controller knative.dev/serving/cmd/controller
		gobuild knative eventing-webhook knative.dev/eventing/cmd/webhook
		local minor=${KUBE_VERSION#v1.}
		minor=${minor%%.*}
		local ld="-X $v.gitVersion=$KUBE_VERSION -X $v.gitMajor=1 -X $v.gitMinor=$minor -X $v.gitTreeState=clean"
		gobuild kube kube-apiserver k8s.io/kubernetes/cmd/kube-apiserver "$ld"
		gobuild kube kubectl k8s.io/kubernetes/cmd/kubectl "$ld"
		local m dir
		rm -rf "$CACHE/config.tmp"
		for m in serving eventing networking caching; do
			dir=$(cd "$WRAP/knative" && GOFLAGS=-mod=readonly go list -m -f '{{.Dir}}' "knative.dev/$m")
			[[ -d $dir/config ]] || die "knative.dev/$m has no config/ folder in $dir"
			mkdir -p "$CACHE/config.tmp"
			cp -r "$dir/config" "$CACHE/config.tmp/$m"
		done
		chmod -R u+w "$CACHE/config.tmp"
		rm -rf "$CACHE/config"
		mv "$CACHE/config.tmp" "$CACHE/config"
		{
			echo "k8s.io/kubernetes $KUBE_VERSION"
			(cd "$WRAP/etcd" && go list -m -f '{{.Path}} {{.Version}}' go.etcd.io/etcd/server/v3)
			(cd "$WRAP/knative" && go list -m -f '{{.Path}} {{.Version}}' knative.dev/serving knative.dev/eventing knative.dev/pkg)
		} >"$CACHE/versions"
		touch "$CACHE/.ready"
		echo "platform.sh: ready in $((SECONDS - start))s" >&2
	) 9>"$CACHE/.lock"
}

case "${1:-}" in
build) build && echo "$CACHE" ;;
dir) echo "$CACHE" ;;
*) die "usage: platform.sh build|dir" ;;
esac
