#!/usr/bin/env bash
# Render k8s/ from the Helm chart, the one source of the deployment:
# `helm template` with the chart's default values, one file per object, and
# the kustomizations that make `kubectl apply -k k8s/` apply them.
#
#   hack/render.sh          rewrite k8s/ (`make render`)
#   hack/render.sh DIR      render into DIR instead (the test in k8s/ compares)
#
#   k8s/app/      the functions and their event sources (namespace sopaipillas)
#   k8s/topics/   the Strimzi KafkaTopics (in topics.namespace, kafka)
#   k8s/replay/   the dead-letter replay Trigger, applied only on demand
#                 (the chart's delivery.deadLetter.replay=true)
#
# Environment:
#   TOOLS_BIN   (<repo>/bin)  where hack/tools.sh installed helm
set -o errexit -o nounset -o pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
helm="${TOOLS_BIN:-$root/bin}/helm"
chart="$root/charts/sopaipillas"
out="${1:-$root/k8s}"
release=sopaipillas
namespace=sopaipillas

if [[ ! -x "$helm" ]]; then
	echo "render: $helm is missing: run make tools (hack/tools.sh)" >&2
	exit 1
fi

tmp="$(mktemp -d)"
trap 'rm -rf -- "$tmp"' EXIT
mkdir -p -- "$tmp/app" "$tmp/topics" "$tmp/replay"

# split_objects reads `helm template` output and writes each document into
# <dir>/<kind>-<name>.yaml, where dir is the kind's entry in routes
# (Kind=dir,...; * for the rest, "-" to drop).
split_objects() {
	awk -v base="$tmp" -v routes="$1" '
		BEGIN {
			n = split(routes, pairs, ",")
			for (i = 1; i <= n; i++) { split(pairs[i], kv, "="); route[kv[1]] = kv[2] }
			header = "# Rendered from charts/sopaipillas by hack/render.sh (make render): change the chart, not this file."
		}
		function flush(   dir, file) {
			if (doc == "") return
			if (kind == "" || name == "") { print "render: a document without kind or name:\n" doc > "/dev/stderr"; failed = 1; exit 1 }
			dir = (kind in route) ? route[kind] : route["*"]
			if (dir != "-") {
				file = base "/" dir "/" tolower(kind) "-" name ".yaml"
				if (file in written) { print "render: two objects write " file > "/dev/stderr"; failed = 1; exit 1 }
				written[file] = 1
				printf "%s\n%s", header, doc > file
				close(file)
			}
			doc = ""; kind = ""; name = ""; inMeta = 0
		}
		/^---$/ { flush(); next }
		{
			if (kind == "" && $0 ~ /^kind: /) kind = substr($0, 7)
			if ($0 ~ /^metadata:/) inMeta = 1
			else if (inMeta && name == "" && $0 ~ /^  name: /) name = substr($0, 9)
			doc = doc $0 "\n"
		}
		END { if (failed) exit 1; flush() }
	'
}

"$helm" template "$release" "$chart" --namespace "$namespace" |
	split_objects "KafkaTopic=topics,*=app"
"$helm" template "$release" "$chart" --namespace "$namespace" \
	--set delivery.deadLetter.replay=true --show-only templates/deadletter.yaml |
	split_objects "Trigger=replay,*=-"

cat >"$tmp/app/namespace.yaml" <<EOF
# The release namespace; helm and skaffold create it themselves (--create-namespace).
apiVersion: v1
kind: Namespace
metadata:
  name: $namespace
EOF

# resources lists a directory's YAML files, its kustomization aside.
resources() {
	(cd "$1" && LC_ALL=C ls -- *.yaml | grep -vx -e kustomization.yaml -e kustomizeconfig.yaml | sed 's/^/  - /')
}

cat >"$tmp/kustomization.yaml" <<EOF
# Rendered from charts/sopaipillas by hack/render.sh (make render): change the
# chart's values and render again. Everything sopaipillas needs on a cluster
# with Knative Serving, Knative Eventing (KafkaSource, Kafka broker) and a
# Strimzi-managed Kafka:
#
#   kubectl apply -k k8s/
#
# app/     the functions and their event sources, in namespace $namespace
# topics/  the Strimzi KafkaTopics, in the namespace the topic operator watches
# replay/  not applied here: the Trigger that replays dead letters to sendMail
#          (kubectl apply -k k8s/replay/, then delete it once drained)
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - app
  - topics
EOF

cat >"$tmp/app/kustomization.yaml" <<EOF
# Rendered by hack/render.sh (make render).
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
namespace: $namespace
resources:
$(resources "$tmp/app")
# Knative Services name their image where kustomize does not look by itself:
# with this, \`kustomize edit set image <ko:// reference>=<pushed image>\`
# replaces a ko:// reference in an overlay.
configurations:
  - kustomizeconfig.yaml
EOF

cat >"$tmp/app/kustomizeconfig.yaml" <<EOF
# Rendered by hack/render.sh (make render).
images:
  - kind: Service
    group: serving.knative.dev
    path: spec/template/spec/containers/image
EOF

cat >"$tmp/topics/kustomization.yaml" <<EOF
# Rendered by hack/render.sh (make render). Each KafkaTopic names its
# namespace and Strimzi cluster (the chart's topics.namespace, strimziCluster).
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
$(resources "$tmp/topics")
EOF

cat >"$tmp/replay/kustomization.yaml" <<EOF
# Rendered by hack/render.sh (make render). Replays dead-lettered summaries
# to sendMail once their cause is fixed; sendMail's ledger skips the emails
# it already sent:
#
#   kubectl apply -k k8s/replay/     then, once the broker is drained:
#   kubectl delete -k k8s/replay/
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
namespace: $namespace
resources:
$(resources "$tmp/replay")
EOF

mkdir -p -- "$out"
for part in app topics replay; do
	rm -rf -- "${out:?}/$part"
	mv -- "$tmp/$part" "$out/$part"
done
mv -- "$tmp/kustomization.yaml" "$out/kustomization.yaml"
