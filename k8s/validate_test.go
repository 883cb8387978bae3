package k8s_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"
)

// coreTypes are the kinds without an offline schema: they are checked by
// strict decoding into the official Go types instead of by kubeconform.
var coreTypes = map[string]func() any{
	"v1/ConfigMap":       func() any { return &corev1.ConfigMap{} },
	"v1/Namespace":       func() any { return &corev1.Namespace{} },
	"v1/Secret":          func() any { return &corev1.Secret{} },
	"v1/Service":         func() any { return &corev1.Service{} },
	"v1/ServiceAccount":  func() any { return &corev1.ServiceAccount{} },
	"apps/v1/Deployment": func() any { return &appsv1.Deployment{} },
}

// validate checks one object: core kinds by strict decoding, custom
// resources with `kubeconform -strict` against the CRD schemas in
// ../shared/k8s-schemas (no network, no skipped kinds), plus their metadata
// by strict decoding (the CRD schemas accept any metadata).
func validate(t testing.TB, doc []byte) error {
	var head struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
		Metadata   json.RawMessage
	}
	if err := yaml.Unmarshal(doc, &head); err != nil {
		return err
	}
	if newObj, ok := coreTypes[head.APIVersion+"/"+head.Kind]; ok {
		return strictDecode(doc, newObj())
	}
	if err := strictDecode(head.Metadata, &metav1.ObjectMeta{}); err != nil {
		return fmt.Errorf("metadata: %w", err)
	}
	schemas := sharedPath(t, "K8S_SCHEMAS", "k8s-schemas")
	_, err := run(bytes.NewReader(doc), tool(t, "kubeconform"), "-strict", "-summary",
		"-schema-location", filepath.Join(schemas, "{{.Group}}", "{{.ResourceKind}}_{{.ResourceAPIVersion}}.json"), "-")
	return err
}

// strictDecode decodes YAML or JSON into v, refusing unknown and duplicate
// fields and wrongly typed values.
func strictDecode(doc []byte, v any) error {
	js, err := yaml.YAMLToJSONStrict(doc)
	if err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}

func TestHelmLint(t *testing.T) {
	ciFiles, err := filepath.Glob(filepath.Join(chartDir(t), "ci", "*-values.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	type lintCase struct {
		name string
		args []string // extra `helm lint` arguments
	}
	cases := []lintCase{{name: "default values"}}
	for _, f := range ciFiles {
		cases = append(cases, lintCase{name: filepath.Base(f), args: []string{"--values", f}})
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"lint", "--strict", chartDir(t)}, tc.args...)
			if out, err := run(nil, tool(t, "helm"), args...); err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
		})
	}
}

func TestManifestsValidate(t *testing.T) {
	for _, r := range renderings(t) {
		t.Run(r.Name, func(t *testing.T) {
			if len(r.Same) > 0 {
				t.Logf("also what %s deploys", strings.Join(r.Same, ", "))
			}
			for _, o := range r.Objects {
				t.Run(o.String(), func(t *testing.T) {
					t.Parallel()
					if err := validate(t, o.Doc); err != nil {
						t.Errorf("%s is invalid: %v\n%s", o, err, o.Doc)
					}
				})
			}
		})
	}
}

// TestValidationCatchesBrokenManifests shows that validate can fail: each
// broken manifest is refused, and a correct one of the same kind passes.
func TestValidationCatchesBrokenManifests(t *testing.T) {
	const service = `apiVersion: serving.knative.dev/v1
kind: Service
metadata:
  name: neworder
spec:
  template:
    spec:
      containers:
        - image: ko://github.com/sopaipillas/sopaipillas/functions/cmd/neworder
          ports:
            - containerPort: 8080
`
	cases := []struct {
		name    string
		doc     string
		wantErr string // substring of the error; "" for a valid manifest
	}{
		{name: "valid Knative Service", doc: service},
		{
			name:    "unknown container field in a Knative Service",
			doc:     strings.Replace(service, "          ports:", "          imagePullPolicyy: Always\n          ports:", 1),
			wantErr: "imagePullPolicyy",
		},
		{
			name:    "unknown spec field in a PingSource",
			doc:     "apiVersion: sources.knative.dev/v1\nkind: PingSource\nmetadata:\n  name: p\nspec:\n  schedulee: '5 1 * * *'\n",
			wantErr: "schedulee",
		},
		{
			name:    "wrong type in a KafkaTopic",
			doc:     "apiVersion: kafka.strimzi.io/v1\nkind: KafkaTopic\nmetadata:\n  name: order\nspec:\n  partitions: six\n",
			wantErr: "partitions",
		},
		{
			name:    "unknown metadata field in a custom resource",
			doc:     "apiVersion: sources.knative.dev/v1\nkind: PingSource\nmetadata:\n  name: p\n  labelz: {a: b}\nspec: {}\n",
			wantErr: "labelz",
		},
		{
			name:    "custom resource without a schema",
			doc:     "apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: w\n",
			wantErr: "could not find schema",
		},
		{name: "valid ConfigMap", doc: "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\ndata:\n  A: b\n"},
		{
			name:    "unknown field in a ConfigMap",
			doc:     "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\ndatas:\n  A: b\n",
			wantErr: "datas",
		},
		{
			name:    "unquoted boolean in ConfigMap data",
			doc:     "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\ndata:\n  KAFKA_CREATE_TOPICS: false\n",
			wantErr: "cannot unmarshal bool",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := validate(t, []byte(tc.doc))
			switch {
			case tc.wantErr == "" && err != nil:
				t.Errorf("valid manifest refused: %v", err)
			case tc.wantErr != "" && err == nil:
				t.Errorf("broken manifest accepted; want an error about %q", tc.wantErr)
			case tc.wantErr != "" && !strings.Contains(err.Error(), tc.wantErr):
				t.Errorf("error %q does not mention %q", err, tc.wantErr)
			}
		})
	}
}

// TestChartRejectsBadValues: values.schema.json and the templates' own
// checks refuse at `helm template` (and install) time what the cluster would
// refuse later, Knative's webhooks among them, naming the value; values
// Knative takes pass. (`helm lint` reports a template's fail only as INFO.)
func TestChartRejectsBadValues(t *testing.T) {
	cases := []struct {
		name    string
		set     string // a --set argument
		wantErr string // "" when the value is valid
	}{
		{name: "unknown mail backend", set: "sendMail.backend=postmark", wantErr: "/sendMail/backend"},
		{name: "unknown SMTP TLS mode", set: "sendMail.smtp.tls=ssl", wantErr: "/sendMail/smtp/tls"},
		{name: "misspelled key", set: "newOrder.minscale=2", wantErr: "minscale"},
		{name: "unknown nested key", set: "dailySummary.resources.limits.gpu=1", wantErr: "gpu"},
		{name: "a limit left out", set: "newOrder.resources.limits.cpu=null", wantErr: "/newOrder/resources/limits"},
		{name: "negative scale", set: "dailySummary.minScale=-1", wantErr: "/dailySummary/minScale"},
		{name: "max-scale below min-scale", set: "sendMail.minScale=9", wantErr: "sendMail.maxScale (3) is below sendMail.minScale (9)"},
		{name: "containerConcurrency above Knative's 1000", set: "newOrder.containerConcurrency=5000", wantErr: "/newOrder/containerConcurrency"},
		{name: "negative containerConcurrency", set: "sendMail.containerConcurrency=-1", wantErr: "/sendMail/containerConcurrency"},
		{name: "timeoutSeconds above Knative's 600", set: "dailySummary.timeoutSeconds=601", wantErr: "/dailySummary/timeoutSeconds"},
		{name: "time zone not in the IANA database", set: "dailySummary.timeZone=Mars/Olympus", wantErr: `dailySummary.timeZone "Mars/Olympus": not in the IANA time zone database`},
		{name: "the host's own time zone", set: "dailySummary.timeZone=Local", wantErr: "/dailySummary/timeZone"},
		{name: "another IANA time zone", set: "dailySummary.timeZone=Europe/Madrid"},
		{name: "a name of UTC", set: "dailySummary.timeZone=Etc/UTC"},
		{name: "hour 25", set: "dailySummary.schedule=0 25 * * *", wantErr: `dailySummary.schedule "0 25 * * *": hour 25 is outside 0-23`},
		{name: "range that ends before it starts", set: "dailySummary.schedule=5 3-1 * * *", wantErr: `hour range "3-1" starts after it ends`},
		{name: "step of zero", set: "dailySummary.schedule=*/0 1 * * *", wantErr: `minute step "*/0" is not a positive number`},
		{name: "month name as a day", set: "dailySummary.schedule=5 1 * * jan", wantErr: `day of week "jan" is not a day of week`},
		{name: "six fields", set: "dailySummary.schedule=0 5 1 * * *", wantErr: "/dailySummary/schedule"},
		{name: "a descriptor", set: "dailySummary.schedule=@every 24h", wantErr: "/dailySummary/schedule"},
		{name: "names and ranges Knative takes", set: "dailySummary.schedule=5 1 * JAN-dec mon-SAT"},
		{name: "min.insync.replicas above replicas", set: "topics.minInsyncReplicas=4", wantErr: "topics.minInsyncReplicas (4) with topics.replicas (3)"},
		{name: "no retry before the dead letters", set: "delivery.retry=0", wantErr: "/delivery/retry"},
		{name: "not a Go duration", set: "newOrder.publishTimeout=5 seconds", wantErr: "/newOrder/publishTimeout"},
		{name: "bootstrap without port", set: "kafka.bootstrapServers=my-cluster-kafka-bootstrap", wantErr: "/kafka/bootstrapServers"},
		{name: "unknown Strimzi API", set: "topics.apiVersion=kafka.strimzi.io/v1alpha1", wantErr: "/topics/apiVersion"},
		{name: "no sender address", set: "sendMail.from=", wantErr: "/sendMail/from"},
		{name: "ledger kept less than the summaries", set: "topics.ledger.retentionMs=86400000", wantErr: "topics.ledger.retentionMs (86400000) is below topics.retentionMs"},
		{name: "not a SendGrid URL", set: "sendMail.sendgrid.baseUrl=api.sendgrid.com", wantErr: "/sendMail/sendgrid/baseUrl"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := helmTemplate(t, "--set", tc.set)
			switch {
			case tc.wantErr == "" && err != nil:
				t.Errorf("helm template --set %q refused a valid value: %v", tc.set, err)
			case tc.wantErr != "" && err == nil:
				t.Errorf("helm template --set %q succeeded; want an error about %q", tc.set, tc.wantErr)
			case tc.wantErr != "" && !strings.Contains(err.Error(), tc.wantErr):
				t.Errorf("error does not mention %q:\n%v", tc.wantErr, err)
			}
		})
	}
}

// skaffoldSchema compiles ../shared/skaffold-schemas/v4beta14.json.
func skaffoldSchema(t *testing.T) *jsonschema.Schema {
	t.Helper()
	path := sharedPath(t, "SKAFFOLD_SCHEMA", filepath.Join("skaffold-schemas", "v4beta14.json"))
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	doc, err := jsonschema.UnmarshalJSON(f)
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource(path, doc); err != nil {
		t.Fatal(err)
	}
	schema, err := c.Compile(path)
	if err != nil {
		t.Fatal(err)
	}
	return schema
}

func TestSkaffoldConfig(t *testing.T) {
	schema := skaffoldSchema(t)
	root := repoRoot(t)
	data, err := os.ReadFile(filepath.Join(root, "skaffold.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name    string
		doc     []byte
		wantErr string
	}{
		{name: "skaffold.yaml", doc: data},
		{name: "unknown field (shows the schema is strict)", doc: append(bytes.Clone(data), "\nbuilds: []\n"...), wantErr: "builds"},
		{name: "wrong type", doc: bytes.Replace(data, []byte("createNamespace: true"), []byte("createNamespace: yes-please"), 1), wantErr: "createNamespace"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			js, err := yaml.YAMLToJSONStrict(tc.doc)
			if err != nil {
				t.Fatal(err)
			}
			inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(js))
			if err != nil {
				t.Fatal(err)
			}
			err = schema.Validate(inst)
			switch {
			case tc.wantErr == "" && err != nil:
				t.Errorf("skaffold.yaml does not match the v4beta14 schema:\n%v", err)
			case tc.wantErr != "" && err == nil:
				t.Errorf("schema accepted a broken config; want an error about %q", tc.wantErr)
			case tc.wantErr != "" && !strings.Contains(err.Error(), tc.wantErr):
				t.Errorf("error does not mention %q:\n%v", tc.wantErr, err)
			}
		})
	}

	// What the schema cannot see: the artifacts are the functions' ko://
	// references, and every release deploys the chart, the one source.
	var cfg struct {
		Build struct {
			Artifacts []struct {
				Image string
				Ko    struct{ Main string }
			}
		}
	}
	if err := yaml.Unmarshal(data, &cfg); err != nil {
		t.Fatal(err)
	}
	for _, a := range cfg.Build.Artifacts {
		if want := koImage(t, filepath.Base(a.Ko.Main)); a.Image != want {
			t.Errorf("artifact %s builds %s; the chart uses %s", a.Image, a.Ko.Main, want)
		}
		mainPackage(t, a.Ko.Main)
	}
	releases, err := skaffoldReleases(root)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range releases {
		if r.ChartPath != "charts/sopaipillas" {
			t.Errorf("profile %s deploys %q, want the chart charts/sopaipillas", r.Profile, r.ChartPath)
		}
		for _, f := range r.ValuesFiles {
			if _, err := os.Stat(filepath.Join(root, f)); err != nil {
				t.Errorf("profile %s: %v", r.Profile, err)
			}
		}
	}
}

// TestKoConfig: .ko.yaml builds exactly the three function binaries.
func TestKoConfig(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(repoRoot(t), ".ko.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var cfg struct {
		DefaultBaseImage string   `json:"defaultBaseImage"`
		DefaultPlatforms []string `json:"defaultPlatforms"`
		Builds           []struct {
			ID      string   `json:"id"`
			Main    string   `json:"main"`
			Env     []string `json:"env"`
			Flags   []string `json:"flags"`
			Ldflags []string `json:"ldflags"`
		} `json:"builds"`
	}
	if err := yaml.UnmarshalStrict(data, &cfg); err != nil {
		t.Fatalf(".ko.yaml: %v", err)
	}
	if cfg.DefaultBaseImage == "" {
		t.Error(".ko.yaml sets no defaultBaseImage")
	}
	var ids []string
	for _, b := range cfg.Builds {
		ids = append(ids, b.ID)
		mainPackage(t, b.Main)
	}
	if got, want := strings.Join(ids, ","), strings.Join(functionNames(), ","); got != want {
		t.Errorf(".ko.yaml builds %s, want %s", got, want)
	}
}

// mainPackage fails unless dir (relative to the repository) holds a main
// package.
func mainPackage(t *testing.T, dir string) {
	t.Helper()
	src, err := os.ReadFile(filepath.Join(repoRoot(t), dir, "main.go"))
	if err != nil {
		t.Errorf("%s: %v", dir, err)
		return
	}
	if !bytes.Contains(src, []byte("\npackage main\n")) {
		t.Errorf("%s/main.go is not package main", dir)
	}
}
