package k8s_test

import (
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"sigs.k8s.io/yaml"
)

// TestPlatform applies every rendering of the deployment to a real
// kube-apiserver with Knative Serving's and Eventing's webhooks, expects each
// object admitted and each wrong deployment refused in the platform's own
// words, then lets Serving's controller turn each Knative Service into a
// Revision and a Deployment and compares them with the chart's values.
// It cannot run pods: no kubelet, no networking, no KafkaSource data plane.
func TestPlatform(t *testing.T) {
	p := startPlatform(t)
	rs := renderings(t)
	start := time.Now()
	p.installKnative()
	t.Logf("control plane and Knative ready in %s", time.Since(start).Round(time.Millisecond))

	// The namespaces the chart expects: skaffold creates the release's
	// (createNamespace), Strimzi's topic operator watches "kafka".
	if _, err := p.apply("", marshalDocs(t, namespaceObj(namespace), namespaceObj("kafka"))...); err != nil {
		t.Fatal(err)
	}

	t.Run("admitted", func(t *testing.T) {
		for _, r := range rs {
			t.Run(r.Name, func(t *testing.T) {
				objs := applicable(t, r, func(image string) string { return koLocal(image, true) })
				out, err := p.apply("", objs...)
				if err != nil {
					t.Fatalf("%s (also %v) not admitted:\n%v", r.Name, r.Same, err)
				}
				if got := strings.Count(strings.TrimSpace(string(out)), "\n") + 1; got != len(objs) {
					t.Errorf("kubectl apply reported %d objects, want %d:\n%s", got, len(objs), out)
				}
				// Serving's webhook dry-runs each revision's pod (its
				// ServiceAccount, its ConfigMaps) only when the request is a
				// dry run, now that what the pod refers to exists.
				if out, err := p.apply("--dry-run=server", objs...); err != nil {
					t.Fatalf("%s refused on a server-side dry run:\n%v\n%s", r.Name, err, out)
				}
			})
		}
	})

	t.Run("refused", func(t *testing.T) { testRefused(t, p, rs) })

	// Eventing's webhook and Serving's controller both serve health probes
	// on :8080 (knative.dev/pkg's injection.HealthCheckDefaultPort, which no
	// setting moves); Knative Services need only Serving's webhook.
	p.kill("eventing-webhook")
	p.startServingController()
	t.Run("reconciled", func(t *testing.T) {
		for _, r := range rs {
			t.Run(r.Name, func(t *testing.T) { testReconciled(t, p, r) })
		}
	})
}

// installKnative installs Serving's and Eventing's CRDs and configmaps from
// their modules' config/ folders, CRDs made from the JSON Schemas of
// KafkaSource and Strimzi's KafkaTopic, and starts both webhooks, reached by
// the API server through Services of type ExternalName: localhost.
func (p *platform) installKnative() {
	t := p.t
	t.Helper()
	ports, err := p.ns.freePorts(6)
	if err != nil {
		t.Fatal(err)
	}
	servingPort, eventingPort := ports[0], ports[1]

	crds := docs(p.configDocs(
		"serving/core/300-resources/*.yaml",
		"networking/certificate.yaml", "networking/ingress.yaml", "networking/serverlessservice.yaml", "networking/domain-claim.yaml",
		"caching/image.yaml",
		"eventing/core/resources/*.yaml"))
	crds = append(crds, schemaCRDs(t)...)
	base := append(docs(p.configDocs("serving/core/100-namespace.yaml", "eventing/core/100-namespace.yaml")), crds...)
	if out, err := p.apply("", base...); err != nil {
		t.Fatalf("Knative's CRDs: %v\n%s", err, out)
	}
	if _, err := p.kubectl(nil, "wait", "--for", "condition=established", "--timeout", "120s", "crd", "--all"); err != nil {
		t.Fatal(err)
	}
	config := docs(p.configDocs(
		"serving/core/configmaps/*.yaml", "networking/config-network.yaml",
		"eventing/core/configmaps/*.yaml",
		"serving/core/webhooks/secret.yaml", "eventing/core/webhooks/secret.yaml"))
	config = append(config, marshalDocs(t,
		externalName("knative-serving", "webhook", servingPort),
		externalName("knative-eventing", "eventing-webhook", eventingPort))...)
	for _, w := range []struct {
		files []string
		port  int
	}{
		{[]string{"serving/core/webhooks/configmap-validation.yaml", "serving/core/webhooks/defaulting.yaml", "serving/core/webhooks/resource-validation.yaml"}, servingPort},
		// Not sinkbindings.yaml: SinkBinding is not used, and its webhook
		// would intercept every Deployment once eventing's webhook stops.
		{[]string{"eventing/core/webhooks/config-validation.yaml", "eventing/core/webhooks/defaulting.yaml", "eventing/core/webhooks/resource-validation.yaml"}, eventingPort},
	} {
		for _, o := range p.configDocs(w.files...) {
			for _, wh := range list(o.Fields, "webhooks") {
				get(wh, "clientConfig", "service").(map[string]any)["port"] = w.port
			}
			config = append(config, marshalDocs(t, o.Fields)...)
		}
	}
	if out, err := p.apply("", config...); err != nil {
		t.Fatalf("Knative's configuration: %v\n%s", err, out)
	}

	common := func(ns, name string, profiling, metrics int) []string {
		return []string{
			"KUBECONFIG=" + p.kubecfg,
			"SYSTEM_NAMESPACE=" + ns,
			"POD_NAME=" + name + "-local",
			"CONFIG_LOGGING_NAME=config-logging",
			"CONFIG_OBSERVABILITY_NAME=config-observability",
			"PROFILING_PORT=" + strconv.Itoa(profiling),
			"METRICS_PROMETHEUS_PORT=" + strconv.Itoa(metrics),
		}
	}
	p.spawn("serving-webhook", append(common("knative-serving", "webhook", ports[2], ports[3]),
		"WEBHOOK_NAME=webhook", "WEBHOOK_PORT="+strconv.Itoa(servingPort)))
	p.spawn("eventing-webhook", append(common("knative-eventing", "eventing-webhook", ports[4], ports[5]),
		"WEBHOOK_NAME=eventing-webhook", "WEBHOOK_PORT="+strconv.Itoa(eventingPort),
		"METRICS_DOMAIN=knative.dev/eventing", "SINK_BINDING_SELECTION_MODE=exclusion"))

	// Each webhook writes its CA and rules into its configurations once it
	// serves: until then they match nothing.
	for _, kind := range []string{"validatingwebhookconfigurations", "mutatingwebhookconfigurations"} {
		for _, name := range []string{"webhook.serving.knative.dev", "validation.webhook.serving.knative.dev", "webhook.eventing.knative.dev", "validation.webhook.eventing.knative.dev"} {
			if (kind == "mutatingwebhookconfigurations") != strings.HasPrefix(name, "webhook.") {
				continue
			}
			p.poll(kind+"/"+name+" reconciled by its webhook", 3*time.Minute, func() error {
				var cfg struct {
					Webhooks []struct {
						ClientConfig struct {
							CABundle []byte `json:"caBundle"`
						} `json:"clientConfig"`
						Rules []any `json:"rules"`
					} `json:"webhooks"`
				}
				if err := p.getJSON(&cfg, kind, name); err != nil {
					return err
				}
				if len(cfg.Webhooks) == 0 || len(cfg.Webhooks[0].ClientConfig.CABundle) == 0 || len(cfg.Webhooks[0].Rules) == 0 {
					return errNotYet
				}
				return nil
			})
		}
	}
}

// startServingController starts Serving's controller.
func (p *platform) startServingController() {
	ports, err := p.ns.freePorts(2)
	if err != nil {
		p.t.Fatal(err)
	}
	p.spawn("serving-controller", []string{
		"KUBECONFIG=" + p.kubecfg,
		"SYSTEM_NAMESPACE=knative-serving",
		"POD_NAME=controller-local",
		"CONFIG_LOGGING_NAME=config-logging",
		"CONFIG_OBSERVABILITY_NAME=config-observability",
		"PROFILING_PORT=" + strconv.Itoa(ports[0]),
		"METRICS_PROMETHEUS_PORT=" + strconv.Itoa(ports[1]),
	})
}

func namespaceObj(name string) map[string]any {
	return map[string]any{"apiVersion": "v1", "kind": "Namespace", "metadata": map[string]any{"name": name}}
}

// externalName is a Service that sends the API server to localhost:port.
func externalName(ns, name string, port int) map[string]any {
	return map[string]any{
		"apiVersion": "v1", "kind": "Service",
		"metadata": map[string]any{"name": name, "namespace": ns},
		"spec": map[string]any{
			"type": "ExternalName", "externalName": "localhost",
			"ports": []any{map[string]any{"name": "https-webhook", "port": port}},
		},
	}
}

// schemaCRDs makes CRDs of the kinds whose CRDs no Go module serves
// (KafkaSource of knative.dev/eventing-kafka-broker, Strimzi's KafkaTopic)
// from their JSON Schemas in ../shared/k8s-schemas. Only their shape is
// checked so: the rules their own webhooks add are checked by the drift
// tests (TestSourcesMatchCode, TestTopicsMatchCode).
func schemaCRDs(t *testing.T) [][]byte {
	t.Helper()
	dir := sharedPath(t, "K8S_SCHEMAS", "k8s-schemas")
	type version struct{ name, file string }
	crd := func(group, kind, plural string, short []string, versions ...version) map[string]any {
		var vs []any
		for i, v := range versions {
			data, err := os.ReadFile(filepath.Join(dir, group, v.file))
			if err != nil {
				t.Fatal(err)
			}
			var schema map[string]any
			if err := json.Unmarshal(data, &schema); err != nil {
				t.Fatalf("%s: %v", v.file, err)
			}
			vs = append(vs, map[string]any{
				"name": v.name, "served": true, "storage": i == 0,
				"schema":       map[string]any{"openAPIV3Schema": structural(schema, true)},
				"subresources": map[string]any{"status": map[string]any{}},
			})
		}
		return map[string]any{
			"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
			"metadata": map[string]any{"name": plural + "." + group},
			"spec": map[string]any{
				"group": group, "scope": "Namespaced", "versions": vs,
				"names": map[string]any{"kind": kind, "plural": plural, "singular": strings.ToLower(kind), "listKind": kind + "List", "shortNames": short},
			},
		}
	}
	return marshalDocs(t,
		crd("sources.knative.dev", "KafkaSource", "kafkasources", nil, version{"v1beta1", "kafkasource_v1beta1.json"}),
		crd("kafka.strimzi.io", "KafkaTopic", "kafkatopics", []string{"kt"},
			version{"v1", "kafkatopic_v1.json"}, version{"v1beta2", "kafkatopic_v1beta2.json"}))
}

// structural turns a JSON Schema made from a CRD (kubeconform's strict
// form) back into a structural OpenAPI schema: no $schema, no
// additionalProperties beside properties (both are the API server's rule),
// and metadata left to the API server.
func structural(v any, root bool) any {
	switch s := v.(type) {
	case map[string]any:
		out := map[string]any{}
		for k, val := range s {
			switch {
			case k == "$schema":
			case k == "additionalProperties" && s["properties"] != nil:
			case k == "additionalProperties" && val == false:
			case k == "properties":
				props := map[string]any{}
				for name, prop := range val.(map[string]any) {
					if root && name == "metadata" {
						props[name] = map[string]any{"type": "object"}
						continue
					}
					props[name] = structural(prop, false)
				}
				out[k] = props
			default:
				out[k] = structural(val, false)
			}
		}
		return out
	case []any:
		out := make([]any, len(s))
		for i, e := range s {
			out[i] = structural(e, false)
		}
		return out
	}
	return v
}

// koLocal is the image a rendering's image becomes on the test cluster:
// ko:// references become ko.local/<binary>:platform, as ko names images
// it builds without a registry; unless koOnly, every other image too, so
// that Serving's controller, which does not resolve ko.local tags
// (config-deployment's registries-skipping-tag-resolving), never asks a
// registry.
func koLocal(image string, koOnly bool) string {
	if koOnly && !strings.HasPrefix(image, "ko://") {
		return image
	}
	name := image[strings.LastIndex(image, "/")+1:]
	if i := strings.IndexAny(name, ":@"); i >= 0 {
		name = name[:i]
	}
	return "ko.local/" + name + ":platform"
}

// kindRank orders objects as kustomize applies them: a revision's pod is
// dry-run against its ServiceAccount, and its env against its ConfigMaps.
func kindRank(kind string) int {
	return slices.Index([]string{"Namespace", "ServiceAccount", "ConfigMap", "Secret"}, kind) + 1 // others 0 → last
}

// applicable returns a rendering's objects as YAML, in apply order, in the
// release's namespace unless they name theirs, with images rewritten.
func applicable(t testing.TB, r rendering, image func(string) string) [][]byte {
	t.Helper()
	objs := slices.Clone(r.Objects)
	rank := func(o object) int {
		if k := kindRank(o.Kind); k > 0 {
			return k
		}
		return 100
	}
	slices.SortStableFunc(objs, func(a, b object) int { return rank(a) - rank(b) })
	var out []any
	for _, o := range objs {
		o = deepCopy(o)
		if o.Kind != "Namespace" && o.Namespace == "" {
			o.Fields["metadata"].(map[string]any)["namespace"] = namespace
		}
		for _, path := range [][]any{{"spec", "template", "spec", "containers"}, {"spec", "template", "spec", "initContainers"}} {
			for _, c := range list(o.Fields, path...) {
				if m, ok := c.(map[string]any); ok {
					if img, ok := m["image"].(string); ok {
						m["image"] = image(img)
					}
				}
			}
		}
		out = append(out, o.Fields)
	}
	return marshalDocs(t, out...)
}

// testRefused applies wrong deployments, each made from k8s/'s objects by
// one change, and expects each refused with the platform's own message.
// The chart's values schema refuses the same settings before Helm renders
// them (TestChartRejectsBadValues); these are raw manifests.
func testRefused(t *testing.T, p *platform, rs []rendering) {
	var k8s rendering
	for _, r := range rs {
		if r.Name == "k8s" {
			k8s = r
		}
	}
	base := func(kind, name string) map[string]any {
		o, ok := k8s.find(kind, name)
		if !ok {
			t.Fatalf("k8s/ has no %s %s", kind, name)
		}
		o = deepCopy(o)
		md := o.Fields["metadata"].(map[string]any)
		md["name"] = "refused-" + name
		md["namespace"] = namespace
		for _, c := range list(o.Fields, "spec", "template", "spec", "containers") {
			c.(map[string]any)["image"] = koLocal(c.(map[string]any)["image"].(string), false)
		}
		return o.Fields
	}
	set := func(obj map[string]any, value any, path ...any) map[string]any {
		parent := get(obj, path[:len(path)-1]...).(map[string]any)
		parent[path[len(path)-1].(string)] = value
		return obj
	}
	tmpl := []any{"spec", "template"}
	cases := []struct {
		name string
		obj  map[string]any
		want string // in the error the platform answers
	}{
		{"containerConcurrency 5000", set(base("Service", "neworder"), 5000, append(tmpl, "spec", "containerConcurrency")...),
			"expected 0 <= 5000 <= 1000: spec.template.spec.containerConcurrency"},
		{"max-scale below min-scale", set(base("Service", "neworder"), map[string]any{
			"autoscaling.knative.dev/min-scale": "5", "autoscaling.knative.dev/max-scale": "2",
		}, append(tmpl, "metadata", "annotations")...),
			"max-scale=2 is less than min-scale=5"},
		{"PingSource time zone Mars/Olympus", set(base("PingSource", "close-day"), "Mars/Olympus", "spec", "timezone"),
			"unknown time zone Mars/Olympus: spec.timezone"},
		{"PingSource schedule 0 25 * * *", set(base("PingSource", "close-day"), "0 25 * * *", "spec", "schedule"),
			"end of range (25) above maximum (23): 25: spec.schedule"},
		{"missing ServiceAccount", set(base("Service", "neworder"), "nobody", append(tmpl, "spec", "serviceAccountName")...),
			`serviceaccount "nobody" not found`},
		{"unknown field", set(base("Service", "neworder"), "1", append(tmpl, "spec", "containerConcurency")...),
			`unknown field "spec.template.spec.containerConcurency"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out, err := p.apply("--dry-run=server", marshalDocs(t, tc.obj)...)
			if err == nil {
				t.Fatalf("admitted; want refused with %q:\n%s", tc.want, out)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("refused, but the answer does not say %q:\n%v", tc.want, err)
			}
			t.Logf("refused: %s", strings.TrimSpace(err.Error()[strings.LastIndex(strings.TrimSpace(err.Error()), "\n")+1:]))
		})
	}
}

// chartValues returns the values a chart rendering was made with: the
// chart's values.yaml merged with its values files.
func chartValues(t *testing.T, r rendering) map[string]any {
	t.Helper()
	root := repoRoot(t)
	var files []string
	switch {
	case r.Name == "chart/default" || r.Name == "k8s":
	case strings.HasPrefix(r.Name, "chart/ci/"):
		files = []string{filepath.Join(chartDir(t), "ci", strings.TrimPrefix(r.Name, "chart/ci/"))}
	case strings.HasPrefix(r.Name, "skaffold/"):
		releases, err := skaffoldReleases(root)
		if err != nil {
			t.Fatal(err)
		}
		for _, rel := range releases {
			if "skaffold/"+rel.Profile == r.Name {
				if len(rel.SetValues) > 0 {
					t.Fatalf("%s: setValues are not merged here", r.Name)
				}
				for _, f := range rel.ValuesFiles {
					files = append(files, filepath.Join(root, f))
				}
			}
		}
	default:
		t.Fatalf("no values known for rendering %s", r.Name)
	}
	values := map[string]any{}
	for _, f := range append([]string{filepath.Join(chartDir(t), "values.yaml")}, files...) {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var v map[string]any
		if err := yaml.Unmarshal(data, &v); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		mergeValues(values, v)
	}
	return values
}

// mergeValues merges src into dst as Helm merges values files: maps
// deeply, anything else replaced.
func mergeValues(dst, src map[string]any) {
	for k, v := range src {
		if sm, ok := v.(map[string]any); ok {
			if dm, ok := dst[k].(map[string]any); ok {
				mergeValues(dm, sm)
				continue
			}
		}
		dst[k] = v
	}
}

// functionValues finds a function's values by its Service's name
// (newOrder for neworder).
func functionValues(values map[string]any, service string) (map[string]any, bool) {
	for _, k := range slices.Sorted(maps.Keys(values)) {
		if strings.ToLower(k) == service {
			m, ok := values[k].(map[string]any)
			return m, ok
		}
	}
	return nil, false
}

// testReconciled applies a rendering's Knative Services again with local
// images, waits for Serving's controller to make each one's latest Revision
// and its Deployment, and compares them with the chart's values and the
// rendered container.
func testReconciled(t *testing.T, p *platform, r rendering) {
	var ksvcs []object
	for _, o := range r.all("Service") {
		if strings.HasPrefix(o.APIVersion, "serving.knative.dev/") {
			ksvcs = append(ksvcs, o)
		}
	}
	if len(ksvcs) == 0 {
		t.Fatalf("%s has no Knative Service", r.Name)
	}
	if out, err := p.apply("", applicable(t, rendering{Objects: ksvcs}, func(image string) string { return koLocal(image, false) })...); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	values := chartValues(t, r)
	for _, ksvc := range ksvcs {
		t.Run(ksvc.Name, func(t *testing.T) {
			rev, dep := p.latestDeployment(t, ksvc.Name)
			fv, ok := functionValues(values, ksvc.Name)
			if !ok {
				t.Fatalf("the chart's values have no key for %s", ksvc.Name)
			}
			for _, problem := range checkDeployment(ksvc, fv, rev, dep) {
				t.Error(problem)
			}
			// The comparison can fail: other values, other verdict.
			other := maps.Clone(fv)
			other["containerConcurrency"], other["maxScale"] = 999, 99
			if problems := checkDeployment(ksvc, other, rev, dep); len(problems) != 3 {
				t.Errorf("checkDeployment with containerConcurrency 999 and maxScale 99 found %d problems, want 3: %q", len(problems), problems)
			}
		})
	}
}

// revision is the part of a Knative Revision read back.
type revision struct {
	Metadata struct {
		Name        string            `json:"name"`
		Annotations map[string]string `json:"annotations"`
	} `json:"metadata"`
	Spec struct {
		ContainerConcurrency *int64 `json:"containerConcurrency"`
		TimeoutSeconds       *int64 `json:"timeoutSeconds"`
	} `json:"spec"`
}

// latestDeployment waits until the controller has seen the Service's
// current generation and made its latest Revision's Deployment.
func (p *platform) latestDeployment(t *testing.T, name string) (revision, appsv1.Deployment) {
	t.Helper()
	var rev revision
	var dep appsv1.Deployment
	p.poll("the Revision and Deployment of "+name, 3*time.Minute, func() error {
		type status struct {
			Metadata struct {
				Generation int64 `json:"generation"`
			} `json:"metadata"`
			Status struct {
				ObservedGeneration        int64  `json:"observedGeneration"`
				LatestCreatedRevisionName string `json:"latestCreatedRevisionName"`
			} `json:"status"`
		}
		var svc, cfg status
		if err := p.getJSON(&svc, "-n", namespace, "services.serving.knative.dev", name); err != nil {
			return err
		}
		if err := p.getJSON(&cfg, "-n", namespace, "configurations.serving.knative.dev", name); err != nil {
			return err
		}
		latest := cfg.Status.LatestCreatedRevisionName
		if svc.Status.ObservedGeneration != svc.Metadata.Generation || cfg.Status.ObservedGeneration != cfg.Metadata.Generation || latest == "" {
			return fmt.Errorf("service %s generation %d observed %d, configuration generation %d observed %d, latest revision %q: %w",
				name, svc.Metadata.Generation, svc.Status.ObservedGeneration, cfg.Metadata.Generation, cfg.Status.ObservedGeneration, latest, errNotYet)
		}
		if err := p.getJSON(&rev, "-n", namespace, "revisions.serving.knative.dev", latest); err != nil {
			return err
		}
		return p.getJSON(&dep, "-n", namespace, "deployments.apps", latest+"-deployment")
	})
	return rev, dep
}

// checkDeployment compares what Knative made of a Service with what the
// chart meant: the values (concurrency, timeout, scale bounds, resources)
// and the rendered container (image, env, probes, security, mounts).
func checkDeployment(ksvc object, values map[string]any, rev revision, dep appsv1.Deployment) []string {
	var problems []string
	fail := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }

	var rendered corev1.Container
	cs := list(ksvc.Fields, "spec", "template", "spec", "containers")
	if len(cs) != 1 {
		return []string{fmt.Sprintf("rendered %d containers, want 1", len(cs))}
	}
	if err := yamlRoundTrip(cs[0], &rendered); err != nil {
		return []string{err.Error()}
	}
	var user, queue *corev1.Container
	for i := range dep.Spec.Template.Spec.Containers {
		c := &dep.Spec.Template.Spec.Containers[i]
		switch c.Name {
		case rendered.Name:
			user = c
		case "queue-proxy":
			queue = c
		}
	}
	if user == nil || queue == nil {
		var names []string
		for _, c := range dep.Spec.Template.Spec.Containers {
			names = append(names, c.Name)
		}
		return []string{fmt.Sprintf("deployment %s has containers %v, want %s and queue-proxy", dep.Name, names, rendered.Name)}
	}
	queueEnv := map[string]string{}
	for _, e := range queue.Env {
		queueEnv[e.Name] = e.Value
	}

	// The values.
	num := func(key string) (int64, bool) {
		switch v := values[key].(type) {
		case float64:
			return int64(v), true
		case int64:
			return v, true
		case int:
			return int64(v), true
		}
		return 0, false
	}
	if want, ok := num("containerConcurrency"); ok {
		if got := rev.Spec.ContainerConcurrency; got == nil || *got != want {
			fail("revision containerConcurrency = %v, want %d", deref(got), want)
		}
		if got := queueEnv["CONTAINER_CONCURRENCY"]; got != strconv.FormatInt(want, 10) {
			fail("queue-proxy CONTAINER_CONCURRENCY = %q, want %d", got, want)
		}
	}
	if want, ok := num("timeoutSeconds"); ok {
		if got := rev.Spec.TimeoutSeconds; got == nil || *got != want {
			fail("revision timeoutSeconds = %v, want %d", deref(got), want)
		}
	}
	for key, annotation := range map[string]string{"minScale": "autoscaling.knative.dev/min-scale", "maxScale": "autoscaling.knative.dev/max-scale"} {
		if want, ok := num(key); ok {
			if got := rev.Metadata.Annotations[annotation]; got != strconv.FormatInt(want, 10) {
				fail("revision %s = %q, want %d (%s)", annotation, got, want, key)
			}
		}
	}
	if res, ok := values["resources"].(map[string]any); ok {
		for _, kind := range []string{"requests", "limits"} {
			want, _ := res[kind].(map[string]any)
			got := user.Resources.Requests
			if kind == "limits" {
				got = user.Resources.Limits
			}
			if len(got) != len(want) {
				fail("%s = %v, want %v", kind, got, want)
			}
			for name, v := range want {
				q, err := resource.ParseQuantity(fmt.Sprint(v))
				if err != nil {
					fail("values %s.%s = %v: %v", kind, name, v, err)
					continue
				}
				if g, ok := got[corev1.ResourceName(name)]; !ok || g.Cmp(q) != 0 {
					fail("%s.%s = %s, want %s", kind, name, g.String(), q.String())
				}
			}
		}
	}

	// The rendered container, as Knative runs it.
	if want := koLocal(rendered.Image, false); user.Image != want {
		fail("image = %q, want %q", user.Image, want)
	}
	gotEnv := map[string]corev1.EnvVar{}
	for _, e := range user.Env {
		gotEnv[e.Name] = e
	}
	for _, e := range rendered.Env {
		if diff := cmp.Diff(e, gotEnv[e.Name]); diff != "" {
			fail("env %s (-rendered +deployed):\n%s", e.Name, diff)
		}
	}
	if diff := cmp.Diff(rendered.EnvFrom, user.EnvFrom); diff != "" {
		fail("envFrom (-rendered +deployed):\n%s", diff)
	}
	if diff := cmp.Diff(rendered.SecurityContext, user.SecurityContext); diff != "" {
		fail("securityContext (-rendered +deployed):\n%s", diff)
	}
	if diff := cmp.Diff(rendered.VolumeMounts, user.VolumeMounts); diff != "" {
		fail("volumeMounts (-rendered +deployed):\n%s", diff)
	}
	// Knative points the liveness probe at the container's port, and
	// hands the HTTP readiness probe to the queue-proxy.
	if rendered.LivenessProbe != nil {
		want := rendered.LivenessProbe.DeepCopy()
		if want.HTTPGet != nil && len(rendered.Ports) == 1 {
			want.HTTPGet.Port.IntVal, want.HTTPGet.Port.Type = rendered.Ports[0].ContainerPort, 0
		}
		probeDefaults(want)
		if diff := cmp.Diff(want, user.LivenessProbe); diff != "" {
			fail("livenessProbe (-rendered +deployed):\n%s", diff)
		}
	}
	if rendered.ReadinessProbe != nil && rendered.ReadinessProbe.HTTPGet != nil {
		var probe corev1.Probe
		if err := json.Unmarshal([]byte(queueEnv["SERVING_READINESS_PROBE"]), &probe); err != nil {
			fail("queue-proxy SERVING_READINESS_PROBE %q: %v", queueEnv["SERVING_READINESS_PROBE"], err)
		} else if probe.HTTPGet == nil || probe.HTTPGet.Path != rendered.ReadinessProbe.HTTPGet.Path {
			fail("queue-proxy readiness probe %+v, want path %s", probe.ProbeHandler, rendered.ReadinessProbe.HTTPGet.Path)
		}
	}
	if dep.Spec.Template.Spec.ServiceAccountName != str(ksvc.Fields, "spec", "template", "spec", "serviceAccountName") {
		fail("serviceAccountName = %q, want %q", dep.Spec.Template.Spec.ServiceAccountName, str(ksvc.Fields, "spec", "template", "spec", "serviceAccountName"))
	}
	return problems
}

// probeDefaults fills in what the API server defaults in a probe left out
// (the Probe and HTTPGetAction field documentation of k8s.io/api/core/v1).
func probeDefaults(p *corev1.Probe) {
	if p.HTTPGet != nil && p.HTTPGet.Scheme == "" {
		p.HTTPGet.Scheme = corev1.URISchemeHTTP
	}
	for _, f := range []struct {
		field *int32
		def   int32
	}{{&p.TimeoutSeconds, 1}, {&p.PeriodSeconds, 10}, {&p.SuccessThreshold, 1}, {&p.FailureThreshold, 3}} {
		if *f.field == 0 {
			*f.field = f.def
		}
	}
}

func deref(p *int64) any {
	if p == nil {
		return nil
	}
	return *p
}
