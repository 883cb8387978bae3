package k8s_test

import (
	"bytes"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"log/slog"
	"maps"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"runtime/debug"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kelseyhightower/envconfig"
	"github.com/robfig/cron/v3"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/sopaipillas/sopaipillas/events"
	"github.com/sopaipillas/sopaipillas/functions/dailysummary"
	"github.com/sopaipillas/sopaipillas/functions/neworder"
	"github.com/sopaipillas/sopaipillas/functions/salesboard"
	"github.com/sopaipillas/sopaipillas/functions/sendmail"
)

// The drift tests bind the chart to the code, once: every rendering helm
// makes of it (chartRenderings) sets exactly the variables each function
// reads, on the port and probe paths it serves, with the topics, retention
// and event types of events/ and the functions' own topic specs. k8s/ is the
// chart's default rendering, file for file (TestK8sIsRendered).

// function is one function binary: its Knative Service (also its directory
// under functions/cmd) and the configuration struct it reads with envconfig.
type function struct {
	Service string
	Config  any // a pointer to the struct
	// Public functions are reachable from outside the cluster.
	Public bool
	// GoMemLimit functions get the Go runtime's GOMEMLIMIT below their
	// memory limit: their heap grows with the data they read (dailySummary)
	// or with the orders waiting for Kafka (newOrder, whose shedding bound
	// derives from it).
	GoMemLimit bool
}

func functions() []function {
	return []function{
		{Service: "neworder", Config: &neworder.Config{}, Public: true, GoMemLimit: true},
		{Service: "dailysummary", Config: &dailysummary.Config{}, GoMemLimit: true},
		{Service: "sendmail", Config: &sendmail.Config{}},
		{Service: "salesboard", Config: &salesboard.Config{}, Public: true, GoMemLimit: true},
	}
}

func functionNames() []string {
	var names []string
	for _, f := range functions() {
		names = append(names, f.Service)
	}
	return names
}

// koImage is the ko:// reference of a function's binary.
func koImage(t testing.TB, service string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repoRoot(t), "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	module, _, _ := strings.Cut(strings.TrimPrefix(string(data), "module "), "\n")
	return "ko://" + strings.TrimSpace(module) + "/functions/cmd/" + service
}

// envVar is an environment variable a function reads.
type envVar struct {
	Key, Type, Default string
}

// portVar is set by Knative (and Cloud Run) from the containerPort; the
// manifests must never set it.
const portVar = "PORT"

// goMemLimitVar is the Go runtime's soft memory limit. The runtime, not
// envconfig, reads it, so a manifest may set it besides the Config's
// variables.
const goMemLimitVar = "GOMEMLIMIT"

// otelVars are the OpenTelemetry SDK's standard variables the manifests may
// set (README: Telemetry). The SDK and its exporters read them, not
// envconfig, so no Config struct lists them; values.schema.json holds the
// values functions/internal/telemetry (autoexport) accepts.
var otelVars = map[string]bool{
	"OTEL_SERVICE_NAME": true, "OTEL_RESOURCE_ATTRIBUTES": true, "OTEL_SDK_DISABLED": true,
	"OTEL_TRACES_EXPORTER": true, "OTEL_METRICS_EXPORTER": true,
	"OTEL_EXPORTER_OTLP_ENDPOINT": true, "OTEL_EXPORTER_OTLP_PROTOCOL": true, "OTEL_EXPORTER_OTLP_HEADERS": true, "OTEL_EXPORTER_OTLP_TIMEOUT": true,
	"OTEL_TRACES_SAMPLER": true, "OTEL_TRACES_SAMPLER_ARG": true, "OTEL_METRIC_EXPORT_INTERVAL": true,
	"OTEL_EXPORTER_PROMETHEUS_HOST": true, "OTEL_EXPORTER_PROMETHEUS_PORT": true,
}

// checkTelemetry returns what is wrong with a Service's OpenTelemetry
// settings: on (both exporters set) and named after the Service.
func checkTelemetry(env map[string]setting, service string) []string {
	var problems []string
	if got := env["OTEL_SERVICE_NAME"].Value; got != service {
		problems = append(problems, fmt.Sprintf("OTEL_SERVICE_NAME is %q, want %q", got, service))
	}
	for _, k := range []string{"OTEL_TRACES_EXPORTER", "OTEL_METRICS_EXPORTER"} {
		if _, ok := env[k]; !ok {
			problems = append(problems, fmt.Sprintf("%s is not set: telemetry is off", k))
		}
	}
	return problems
}

// startupTimeoutVar bounds a function's start, not a request: Knative's
// timeoutSeconds has nothing to do with it.
const startupTimeoutVar = "STARTUP_TIMEOUT"

// secretLike names the variables that must come from the Secret.
var secretLike = regexp.MustCompile(`PASSWORD|TOKEN|SECRET|API_KEY|USERNAME`)

// compactTopicVars name the topics kept by key (cleanup.policy compact,delete).
var compactTopicVars = []string{"MAIL_LEDGER_TOPIC"}

// runnerEnv reads the variables every function reads besides its own
// configuration: the Env struct of functions/internal/runner, from source
// because an internal package cannot be imported from here.
func runnerEnv(t testing.TB) []envVar {
	t.Helper()
	vars := structEnvFromSource(t, filepath.Join("functions", "internal", "runner", "runner.go"), "Env")
	if len(vars) == 0 {
		t.Fatal("runner.Env has no variables")
	}
	return vars
}

func structEnvFromSource(t testing.TB, file, typeName string) []envVar {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), filepath.Join(repoRoot(t), file), nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	var vars []envVar
	ast.Inspect(f, func(n ast.Node) bool {
		spec, ok := n.(*ast.TypeSpec)
		if !ok || spec.Name.Name != typeName {
			return true
		}
		st, ok := spec.Type.(*ast.StructType)
		if !ok {
			t.Fatalf("%s in %s is not a struct", typeName, file)
		}
		for _, field := range st.Fields.List {
			var tag reflect.StructTag
			if field.Tag != nil {
				s, _ := strconv.Unquote(field.Tag.Value)
				tag = reflect.StructTag(s)
			}
			for _, name := range field.Names {
				key := tag.Get("envconfig")
				if key == "" {
					key = strings.ToUpper(name.Name)
				}
				vars = append(vars, envVar{Key: key, Type: typeString(field.Type), Default: tag.Get("default")})
			}
		}
		return false
	})
	return vars
}

// typeString prints a field's type expression (int, slog.Level, ...).
func typeString(e ast.Expr) string {
	switch x := e.(type) {
	case *ast.Ident:
		return x.Name
	case *ast.SelectorExpr:
		return typeString(x.X) + "." + x.Sel.Name
	default:
		return fmt.Sprintf("%T", e)
	}
}

// configEnv lists the variables envconfig reads into cfg, as envconfig
// itself sees them (embedded structs included).
func configEnv(t testing.TB, cfg any) []envVar {
	t.Helper()
	var buf bytes.Buffer
	format := "{{range .}}{{usage_key .}}\t{{.Field.Type}}\t{{usage_default .}}\n{{end}}"
	if err := envconfig.Usagef("", cfg, &buf, format); err != nil {
		t.Fatal(err)
	}
	var vars []envVar
	for _, line := range strings.Split(buf.String(), "\n") {
		parts := strings.SplitN(line, "\t", 3)
		if len(parts) != 3 {
			continue
		}
		vars = append(vars, envVar{Key: parts[0], Type: parts[1], Default: parts[2]})
	}
	return vars
}

// reads lists every variable fn reads, by key.
func reads(t testing.TB, fn function) map[string]envVar {
	t.Helper()
	out := map[string]envVar{}
	for _, v := range append(runnerEnv(t), configEnv(t, fn.Config)...) {
		out[v.Key] = v
	}
	return out
}

// setting is one environment variable of a container as the manifests set it.
type setting struct {
	Value  string
	Secret string // the Secret it comes from, if any
	From   string // "value", "configMap" or "secret"
}

// containerEnv resolves a container's env and envFrom against the
// ConfigMaps of the same rendering. Secrets stay unresolved (never
// committed); optional: true is required of them so a missing key leaves
// the function's default.
func containerEnv(r rendering, container any) (map[string]setting, []string) {
	env := map[string]setting{}
	var problems []string
	configMap := func(name string) (map[string]any, bool) {
		cm, ok := r.find("ConfigMap", name)
		if !ok {
			return nil, false
		}
		data, _ := get(cm.Fields, "data").(map[string]any)
		return data, true
	}
	for _, from := range list(container, "envFrom") {
		name := str(from, "configMapRef", "name")
		data, ok := configMap(name)
		if !ok {
			problems = append(problems, fmt.Sprintf("envFrom names ConfigMap %q, which is not rendered", name))
		}
		for k, v := range data {
			env[k] = setting{Value: fmt.Sprint(v), From: "configMap"}
		}
	}
	for _, e := range list(container, "env") {
		name := str(e, "name")
		if _, dup := env[name]; dup {
			problems = append(problems, fmt.Sprintf("%s is set twice", name))
		}
		switch {
		case get(e, "valueFrom", "configMapKeyRef") != nil:
			ref := get(e, "valueFrom", "configMapKeyRef")
			data, ok := configMap(str(ref, "name"))
			value, found := data[str(ref, "key")]
			if !ok || !found {
				problems = append(problems, fmt.Sprintf("%s: ConfigMap %q has no key %q", name, str(ref, "name"), str(ref, "key")))
			}
			env[name] = setting{Value: fmt.Sprint(value), From: "configMap"}
		case get(e, "valueFrom", "secretKeyRef") != nil:
			ref := get(e, "valueFrom", "secretKeyRef")
			if get(ref, "optional") != true {
				problems = append(problems, fmt.Sprintf("%s: secretKeyRef must be optional: true", name))
			}
			env[name] = setting{Value: "from-secret", Secret: str(ref, "name"), From: "secret"}
		default:
			env[name] = setting{Value: str(e, "value"), From: "value"}
		}
	}
	return env, problems
}

// checkService returns what is wrong with fn's Knative Service in r.
func checkService(t testing.TB, r rendering, fn function) []string {
	svc, ok := r.find("Service", fn.Service)
	if !ok || svc.APIVersion != "serving.knative.dev/v1" {
		return []string{fmt.Sprintf("no Knative Service %q", fn.Service)}
	}
	var problems []string
	bad := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	spec := get(svc.Fields, "spec", "template", "spec")
	containers := list(spec, "containers")
	if len(containers) != 1 {
		return []string{fmt.Sprintf("%d containers, want 1", len(containers))}
	}
	c := containers[0]

	// Environment: exactly what the function reads, PORT excepted.
	env, envProblems := containerEnv(r, c)
	problems = append(problems, envProblems...)
	want := reads(t, fn)
	if _, ok := env[portVar]; ok {
		bad("sets %s: Knative sets it from the containerPort", portVar)
	}
	var missing, unread []string
	for k := range want {
		if _, ok := env[k]; !ok && k != portVar {
			missing = append(missing, k)
		}
	}
	for k := range env {
		if _, ok := want[k]; !ok && k != portVar && k != goMemLimitVar && !otelVars[k] {
			unread = append(unread, k)
		}
	}
	sort.Strings(missing)
	sort.Strings(unread)
	if len(missing) > 0 {
		bad("the function reads %v, which the manifest does not set", missing)
	}
	if len(unread) > 0 {
		bad("the manifest sets %v, which the function does not read", unread)
	}
	problems = append(problems, checkTelemetry(env, fn.Service)...)
	for k, s := range env {
		if secretLike.MatchString(k) != (s.From == "secret") {
			bad("%s comes from a %s; secrets (and only they) must come from the Secret", k, s.From)
		}
	}

	// Port: one containerPort, the one the binary defaults to without Knative.
	ports := list(c, "ports")
	if len(ports) != 1 {
		bad("%d ports, want exactly 1", len(ports))
	} else {
		port := fmt.Sprint(get(ports[0], "containerPort"))
		if def := want[portVar].Default; port != def {
			bad("containerPort %s, but the binary listens on %s by default", port, def)
		}
		if name := str(ports[0], "name"); name != "http1" && name != "h2c" {
			bad("port name %q, want http1 (or h2c)", name)
		}
	}

	// Probes: paths the server answers.
	for probe, path := range map[string]string{"readinessProbe": "/readyz", "livenessProbe": "/healthz"} {
		got := str(c, probe, "httpGet", "path")
		if got != path {
			bad("%s path %q, want %q", probe, got, path)
		}
		if !serverRoutes(t)["GET "+got] {
			bad("%s path %q is not a route of functions/internal/server", probe, got)
		}
	}

	// Memory: values.schema.json requires every request and limit.
	memoryLimit := ""
	if v := get(c, "resources", "limits", "memory"); v != nil {
		memoryLimit = fmt.Sprint(v) // 512Mi, or a number of bytes
	}
	if p := checkGoMemLimit(env[goMemLimitVar], memoryLimit, fn.GoMemLimit); p != "" {
		bad("%s", p)
	}

	// Knative must not cut a request the function still works on.
	timeout, _ := get(spec, "timeoutSeconds").(float64)
	for k, v := range want {
		if !strings.HasSuffix(k, "_TIMEOUT") || v.Type != "time.Duration" || env[k].From == "secret" || k == startupTimeoutVar {
			continue
		}
		if d, err := time.ParseDuration(env[k].Value); err == nil && time.Duration(timeout)*time.Second <= d {
			bad("timeoutSeconds %v is not above %s=%s", timeout, k, d)
		}
	}

	// Visibility.
	local := str(svc.Fields, "metadata", "labels", "networking.knative.dev/visibility") == "cluster-local"
	if fn.Public == local {
		bad("cluster-local label is %v, want %v", local, !fn.Public)
	}
	if !strings.HasPrefix(r.Name, "chart/ci/") {
		if img := str(c, "image"); img != koImage(t, fn.Service) {
			bad("image %q, want %q", img, koImage(t, fn.Service))
		}
	}
	return problems
}

// checkGoMemLimit returns what is wrong with a container's GOMEMLIMIT
// against its memory limit: it must be below the limit, or the container is
// OOMKilled before the GC works harder, and not far below it, or the GC runs
// more than the limit needs. required says the container must set it.
func checkGoMemLimit(s setting, memoryLimit string, required bool) string {
	if s.From == "" {
		if required {
			return fmt.Sprintf("no %s: set it to about 90%% of limits.memory (%s)", goMemLimitVar, memoryLimit)
		}
		return ""
	}
	if s.From != "value" {
		return fmt.Sprintf("%s comes from a %s; it belongs beside limits.memory, as a value", goMemLimitVar, s.From)
	}
	soft, err := parseGoMemLimit(s.Value)
	if err != nil {
		return err.Error()
	}
	q, err := resource.ParseQuantity(memoryLimit)
	if err != nil {
		return fmt.Sprintf("%s=%s but limits.memory %q: %v", goMemLimitVar, s.Value, memoryLimit, err)
	}
	hard := q.Value()
	if soft >= hard || soft < hard/2 {
		return fmt.Sprintf("%s=%s is %d bytes, limits.memory %s is %d: want about 90%% of the limit, below it",
			goMemLimitVar, s.Value, soft, memoryLimit, hard)
	}
	return ""
}

// parseGoMemLimit is the limit the Go runtime itself reads from
// GOMEMLIMIT=v, asked of a child process of this test binary: the runtime
// refuses a malformed value at start. "off" is refused here: it is no limit.
func parseGoMemLimit(v string) (int64, error) {
	cmd := exec.Command(os.Args[0], "-test.run=^TestPrintMemoryLimit$")
	cmd.Env = append(os.Environ(), goMemLimitVar+"="+v, "PRINT_MEMORY_LIMIT=1")
	out, err := cmd.CombinedOutput()
	var n int64
	if _, scanErr := fmt.Sscanf(string(out), "memory limit %d", &n); err != nil || scanErr != nil || n == math.MaxInt64 {
		return 0, fmt.Errorf("%s=%q is not a limit the Go runtime takes: %v\n%s", goMemLimitVar, v, err, out)
	}
	return n, nil
}

// TestPrintMemoryLimit is parseGoMemLimit's child process.
func TestPrintMemoryLimit(t *testing.T) {
	if os.Getenv("PRINT_MEMORY_LIMIT") == "" {
		t.Skip("run by parseGoMemLimit")
	}
	fmt.Printf("memory limit %d\n", debug.SetMemoryLimit(-1))
}

// TestParseGoMemLimit shows parseGoMemLimit follows the runtime, where
// Kubernetes' units (Mi) and decimal ones are not Go's.
func TestParseGoMemLimit(t *testing.T) {
	cases := []struct {
		in      string
		want    int64
		wantErr bool
	}{
		{in: "460MiB", want: 460 << 20},
		{in: "482344960", want: 482344960},
		{in: "460Mi", wantErr: true},
		{in: "460MB", wantErr: true},
		{in: "off", wantErr: true},
	}
	for _, tc := range cases {
		got, err := parseGoMemLimit(tc.in)
		if (err != nil) != tc.wantErr || got != tc.want {
			t.Errorf("parseGoMemLimit(%q) = %d, %v; want %d, error %v", tc.in, got, err, tc.want, tc.wantErr)
		}
	}
}

// serverRoutes are the string literals of functions/internal/server, where
// the health routes are registered.
func serverRoutes(t testing.TB) map[string]bool {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), filepath.Join(repoRoot(t), "functions", "internal", "server", "server.go"), nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	ast.Inspect(f, func(n ast.Node) bool {
		if lit, ok := n.(*ast.BasicLit); ok && lit.Kind == token.STRING {
			s, _ := strconv.Unquote(lit.Value)
			out[s] = true
		}
		return true
	})
	return out
}

// TestServicesMatchCode: each function's Knative Service sets exactly the
// variables the function reads, with secrets from the Secret, on the port and
// probe paths the code serves.
func TestServicesMatchCode(t *testing.T) {
	for _, r := range chartRenderings(t) {
		for _, fn := range functions() {
			t.Run(r.Name+"/"+fn.Service, func(t *testing.T) {
				for _, p := range checkService(t, r, fn) {
					t.Error(p)
				}
			})
		}
	}
}

// TestServiceCheckCatchesDrift shows checkService can fail: a variable the
// function does not read, a missing one, a secret in the ConfigMap, a PORT
// and a GOMEMLIMIT at the memory limit are all reported.
func TestServiceCheckCatchesDrift(t *testing.T) {
	r := chartRenderings(t)[0] // chart/default
	fn := functions()[1]       // dailysummary
	svc, _ := r.find("Service", fn.Service)
	broken := deepCopy(svc)
	c := get(broken.Fields, "spec", "template", "spec", "containers", 0).(map[string]any)
	var env []any
	for _, e := range list(c, "env") {
		switch str(e, "name") {
		case "LOG_LEVEL": // dropped
		case "SUMMARY_TOKEN":
			env = append(env, map[string]any{"name": "SUMMARY_TOKEN", "value": "committed-by-mistake"})
		case goMemLimitVar:
			env = append(env, map[string]any{"name": goMemLimitVar, "value": "512MiB"})
		case "OTEL_SERVICE_NAME":
			env = append(env, map[string]any{"name": "OTEL_SERVICE_NAME", "value": "neworder"}) // copied from another Service
		default:
			env = append(env, e)
		}
	}
	c["env"] = append(env, map[string]any{"name": "SUMARY_TIMEZONE", "value": "UTC"}, map[string]any{"name": "PORT", "value": "8080"},
		map[string]any{"name": "OTEL_TRACE_EXPORTER", "value": "otlp"})
	delete(c, "envFrom") // OTEL_METRICS_EXPORTER with it
	r.Objects = slices.DeleteFunc(slices.Clone(r.Objects), func(o object) bool { return o.Kind == "Service" && o.Name == fn.Service })
	r.Objects = append(r.Objects, broken)

	got := strings.Join(checkService(t, r, fn), "\n")
	for _, want := range []string{"[LOG_LEVEL]", "SUMMARY_TOKEN comes from a value", "sets PORT", "GOMEMLIMIT=512MiB is",
		`OTEL_SERVICE_NAME is "neworder", want "dailysummary"`, "[OTEL_TRACE_EXPORTER SUMARY_TIMEZONE]", "OTEL_METRICS_EXPORTER is not set"} {
		if !strings.Contains(got, want) {
			t.Errorf("drift not reported: want %q in\n%s", want, got)
		}
	}
}

func deepCopy(o object) object {
	var fields map[string]any
	if err := yamlRoundTrip(o.Fields, &fields); err != nil {
		panic(err)
	}
	o.Fields = fields
	return o
}

// TestConfigLoads feeds each function's rendered environment to envconfig,
// as the binary does at start: every value parses and nothing required is
// missing.
func TestConfigLoads(t *testing.T) {
	for _, r := range chartRenderings(t) {
		for _, fn := range functions() {
			t.Run(r.Name+"/"+fn.Service, func(t *testing.T) {
				svc, ok := r.find("Service", fn.Service)
				if !ok {
					t.Fatalf("no Service %s", fn.Service)
				}
				env, _ := containerEnv(r, get(svc.Fields, "spec", "template", "spec", "containers", 0))
				if _, err := loadConfig(t, fn, env); err != nil {
					t.Errorf("%s would not start: %v", fn.Service, err)
				}
				for _, v := range runnerEnv(t) {
					if err := parseAs(v.Type, env[v.Key].Value); v.Key != portVar && err != nil {
						t.Errorf("%s=%q: %v", v.Key, env[v.Key].Value, err)
					}
				}
			})
		}
	}
}

// loadConfig reads fn's Config from env with envconfig, as the binary does
// at start. Secrets read as a placeholder.
func loadConfig(t testing.TB, fn function, env map[string]setting) (any, error) {
	t.Helper()
	for _, v := range append(runnerEnv(t), configEnv(t, fn.Config)...) {
		t.Setenv(v.Key, "") // a value from the test's own environment must not help
		os.Unsetenv(v.Key)
	}
	for k, s := range env {
		t.Setenv(k, s.Value)
	}
	cfg := reflect.New(reflect.TypeOf(fn.Config).Elem()).Interface()
	return cfg, envconfig.Process("", cfg)
}

// parseAs parses a runner.Env value the way envconfig would.
func parseAs(typ, value string) error {
	switch typ {
	case "string":
		return nil
	case "int":
		_, err := strconv.Atoi(value)
		return err
	case "slog.Level":
		var l slog.Level
		return l.UnmarshalText([]byte(value))
	case "time.Duration":
		_, err := time.ParseDuration(value)
		return err
	default:
		return fmt.Errorf("runner.Env has a field of type %s: teach parseAs about it", typ)
	}
}

// renderedEnv is the environment of all the functions together.
func renderedEnv(r rendering) map[string]setting {
	all := map[string]setting{}
	for _, fn := range functions() {
		svc, _ := r.find("Service", fn.Service)
		env, _ := containerEnv(r, get(svc.Fields, "spec", "template", "spec", "containers", 0))
		maps.Copy(all, env)
	}
	return all
}

// codeTopic is a kafka.Topic (functions/internal/kafka, which cannot be
// imported from here): a topic as a function creates it when missing.
type codeTopic struct {
	Name          string
	Partitions    int32
	RetentionMs   int64
	Compact       bool
	TimestampType string
}

// topicSpecs calls every XxxTopicSpec method of a loaded Config (promoted
// from kafka.TopicsConfig or its own), so a topic spec added to the code is
// checked without editing this test.
func topicSpecs(t testing.TB, cfg any) map[string]codeTopic {
	t.Helper()
	out := map[string]codeTopic{}
	v := reflect.ValueOf(cfg)
	for i := range v.NumMethod() {
		name := v.Type().Method(i).Name
		m := v.Method(i)
		if !strings.HasSuffix(name, "TopicSpec") || m.Type().NumIn() != 0 || m.Type().NumOut() != 1 {
			continue
		}
		res := m.Call(nil)[0]
		if res.Kind() != reflect.Struct {
			t.Fatalf("%s returns a %s, want a kafka.Topic", name, res.Type())
		}
		var ct codeTopic
		cv := reflect.ValueOf(&ct).Elem()
		for j := range res.NumField() {
			f := cv.FieldByName(res.Type().Field(j).Name)
			if !f.IsValid() || f.Type() != res.Field(j).Type() {
				t.Fatalf("kafka.Topic has field %s %s: teach codeTopic and checkTopicConfigs about it",
					res.Type().Field(j).Name, res.Field(j).Type())
			}
			f.Set(res.Field(j))
		}
		out[name] = ct
	}
	return out
}

// checkTopics returns where r's topics differ from the code: the default
// names and the 3-day retention of events/, and each KafkaTopic configured as
// the functions would create the topic themselves (their XxxTopicSpec, with
// the Config loaded from the rendered environment): partitions, retention.ms,
// cleanup.policy and message.timestamp.type, the broker's defaults (delete,
// CreateTime) standing for a spec without them. Without KafkaTopics the
// functions create the topics (KAFKA_CREATE_TOPICS).
func checkTopics(t *testing.T, r rendering) []string {
	t.Helper()
	var problems []string
	bad := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	env := renderedEnv(r)
	if r.Name == "chart/default" {
		for k, want := range map[string]string{"ORDER_TOPIC": events.DefaultOrderTopic, "SUMMARY_TOPIC": events.DefaultSummaryTopic, "REPORT_TOPIC": events.DefaultReportTopic} {
			if env[k].Value != want {
				bad("%s=%q, want the default %q", k, env[k].Value, want)
			}
		}
	}
	if d, err := time.ParseDuration(env["TOPIC_RETENTION"].Value); err != nil || d.Milliseconds() != events.DefaultRetentionMs {
		bad("TOPIC_RETENTION=%q, want %dms", env["TOPIC_RETENTION"].Value, events.DefaultRetentionMs)
	}
	specs := map[string]codeTopic{}
	origin := map[string]string{}
	for _, fn := range functions() {
		svc, _ := r.find("Service", fn.Service)
		fnEnv, _ := containerEnv(r, get(svc.Fields, "spec", "template", "spec", "containers", 0))
		cfg, err := loadConfig(t, fn, fnEnv)
		if err != nil {
			bad("%s would not start: %v", fn.Service, err)
			continue
		}
		for method, spec := range topicSpecs(t, cfg) {
			at := fn.Service + " " + method
			if prev, ok := specs[spec.Name]; ok && prev != spec {
				bad("topic %s: %s gives %+v, %s gives %+v", spec.Name, origin[spec.Name], prev, at, spec)
			}
			specs[spec.Name], origin[spec.Name] = spec, at
		}
	}
	if len(specs) == 0 {
		bad("no XxxTopicSpec method found on the functions' Configs")
	}
	topics := r.all("KafkaTopic")
	if want := strconv.FormatBool(len(topics) == 0); env["KAFKA_CREATE_TOPICS"].Value != want {
		bad("%d KafkaTopics rendered, so KAFKA_CREATE_TOPICS must be %s, got %q", len(topics), want, env["KAFKA_CREATE_TOPICS"].Value)
	}
	if len(topics) == 0 {
		return problems
	}
	rendered := map[string]any{}
	for _, kt := range topics {
		name := str(kt.Fields, "spec", "topicName")
		if name == "" {
			name = kt.Name
		}
		rendered[name] = get(kt.Fields, "spec")
		if _, ok := specs[name]; !ok {
			bad("KafkaTopic %s is not a topic any function uses", name)
		}
	}
	for _, name := range slices.Sorted(maps.Keys(specs)) {
		spec, at := specs[name], origin[name]
		kt, ok := rendered[name]
		if !ok {
			bad("%s creates topic %s, which has no KafkaTopic", at, name)
			continue
		}
		if got := toInt(get(kt, "partitions")); got != int(spec.Partitions) {
			bad("KafkaTopic %s: partitions %d, %s: %d", name, got, at, spec.Partitions)
		}
		if got := toInt(get(kt, "config", "retention.ms")); int64(got) != spec.RetentionMs {
			bad("KafkaTopic %s: retention.ms %d, %s: %d", name, got, at, spec.RetentionMs)
		}
		policy, wantPolicy := str(kt, "config", "cleanup.policy"), []string{"", "delete"}
		if spec.Compact {
			wantPolicy = []string{"compact,delete"}
		}
		if !slices.Contains(wantPolicy, policy) {
			bad("KafkaTopic %s: cleanup.policy %q, %s: Compact %v", name, policy, at, spec.Compact)
		}
		stamp, wantStamp := str(kt, "config", "message.timestamp.type"), []string{spec.TimestampType}
		if spec.TimestampType == "" {
			wantStamp = []string{"", "CreateTime"}
		}
		if !slices.Contains(wantStamp, stamp) {
			bad("KafkaTopic %s: message.timestamp.type %q, %s: TimestampType %q", name, stamp, at, spec.TimestampType)
		}
	}
	return problems
}

// TestTopicsMatchCode: the topics are the ones the functions use, configured
// as they would create them; the order topic is stamped by the broker
// (LogAppendTime), the others by their producers.
func TestTopicsMatchCode(t *testing.T) {
	for _, r := range chartRenderings(t) {
		t.Run(r.Name, func(t *testing.T) {
			for _, p := range checkTopics(t, r) {
				t.Error(p)
			}
		})
	}
}

// TestTopicCheckCatchesDrift shows checkTopics can fail: an order topic
// stamped by its producers, a summary topic stamped by the broker and a
// topic no function uses are all reported.
func TestTopicCheckCatchesDrift(t *testing.T) {
	r := chartRenderings(t)[0] // chart/default
	var objects []object
	for _, o := range r.Objects {
		if o.Kind == "KafkaTopic" && (o.Name == events.DefaultOrderTopic || o.Name == events.DefaultSummaryTopic) {
			o = deepCopy(o)
			config := get(o.Fields, "spec", "config").(map[string]any)
			if o.Name == events.DefaultOrderTopic {
				delete(config, "message.timestamp.type")
			} else {
				config["message.timestamp.type"] = "LogAppendTime"
			}
		}
		objects = append(objects, o)
	}
	unused := deepCopy(objects[slices.IndexFunc(objects, func(o object) bool { return o.Kind == "KafkaTopic" })])
	unused.Fields["spec"].(map[string]any)["topicName"] = "orders-old"
	r.Objects = append(objects, unused)

	got := strings.Join(checkTopics(t, r), "\n")
	for _, want := range []string{
		`KafkaTopic order: message.timestamp.type "", dailysummary OrderTopicSpec: TimestampType "LogAppendTime"`,
		`KafkaTopic summary: message.timestamp.type "LogAppendTime"`,
		`KafkaTopic orders-old is not a topic any function uses`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("drift not reported: want %q in\n%s", want, got)
		}
	}
}

func toInt(v any) int {
	switch x := v.(type) {
	case float64:
		return int(x)
	case int64:
		return int(x)
	case string:
		n, _ := strconv.Atoi(x)
		return n
	}
	return 0
}

// TestSourcesMatchCode: the KafkaSource, PingSource and Trigger deliver the
// topics and CloudEvent types of events/ to the function that takes them.
func TestSourcesMatchCode(t *testing.T) {
	if events.TypePing != "dev.knative.sources.ping" {
		t.Fatalf("events.TypePing is %q, but a PingSource sends dev.knative.sources.ping", events.TypePing)
	}
	for _, r := range chartRenderings(t) {
		t.Run(r.Name, func(t *testing.T) {
			env := renderedEnv(r)
			sinkTo := func(o object, ref any, service string) {
				if str(ref, "apiVersion") != "serving.knative.dev/v1" || str(ref, "kind") != "Service" || str(ref, "name") != service {
					t.Errorf("%s delivers to %v, want Knative Service %s", o, ref, service)
				}
			}
			ks, ok := r.find("KafkaSource", "summary-to-sendmail")
			if !ok {
				t.Fatal("no KafkaSource summary-to-sendmail")
			}
			sinkTo(ks, get(ks.Fields, "spec", "sink", "ref"), "sendmail")
			// sendMail mails the reports; `summary` keeps the summaries
			// alone for the original system's consumers (issue 24).
			if got := fmt.Sprint(list(ks.Fields, "spec", "topics")); env["REPORT_TOPIC"].Value == "" || got != fmt.Sprint([]any{env["REPORT_TOPIC"].Value}) {
				t.Errorf("KafkaSource reads %s, dailySummary writes its reports to REPORT_TOPIC=%q", got, env["REPORT_TOPIC"].Value)
			}
			if got := fmt.Sprint(list(ks.Fields, "spec", "bootstrapServers")); got != fmt.Sprint([]any{env["KAFKA_BROKERS"].Value}) {
				t.Errorf("KafkaSource bootstrapServers %s, KAFKA_BROKERS=%s", got, env["KAFKA_BROKERS"].Value)
			}
			dls := get(ks.Fields, "spec", "delivery", "deadLetterSink", "ref")
			if _, ok := r.find(str(dls, "kind"), str(dls, "name")); !ok {
				t.Errorf("KafkaSource deadLetterSink %v is not rendered", dls)
			}

			ps, ok := r.find("PingSource", "close-day")
			if !ok {
				t.Fatal("no PingSource close-day")
			}
			sinkTo(ps, get(ps.Fields, "spec", "sink", "ref"), "dailysummary")
			tz := str(ps.Fields, "spec", "timezone")
			if tz != env["SUMMARY_TIMEZONE"].Value {
				t.Errorf("PingSource fires in %q, SUMMARY_TIMEZONE=%q", tz, env["SUMMARY_TIMEZONE"].Value)
			}
			if err := firesOncePerDay(str(ps.Fields, "spec", "schedule"), tz); err != nil {
				t.Errorf("PingSource schedule: %v", err)
			}
			if _, given, err := events.DecodeSummaryRequest([]byte(str(ps.Fields, "spec", "data"))); err != nil || given {
				t.Errorf("PingSource data %q must be a summary request without a day (given %v, %v)", str(ps.Fields, "spec", "data"), given, err)
			}

			for _, tr := range r.all("Trigger") {
				sinkTo(tr, get(tr.Fields, "spec", "subscriber", "ref"), "sendmail")
				if got := str(tr.Fields, "spec", "filter", "attributes", "type"); got != events.TypeSummaryCreated {
					t.Errorf("Trigger %s feeds sendMail type %q, want %q", tr.Name, got, events.TypeSummaryCreated)
				}
				if _, ok := r.find("Broker", str(tr.Fields, "spec", "broker")); !ok {
					t.Errorf("Trigger %s: broker %q is not rendered", tr.Name, str(tr.Fields, "spec", "broker"))
				}
			}
		})
	}
}

// firesOncePerDay checks that a PingSource schedule fires exactly once on
// every calendar day of tz from 2026 to 2031, DST changes included. It reads
// the schedule as the PingSource adapter does (robfig/cron with CRON_TZ).
func firesOncePerDay(schedule, tz string) error {
	loc, err := time.LoadLocation(tz)
	if err != nil {
		return err
	}
	s, err := cron.ParseStandard("CRON_TZ=" + tz + " " + schedule)
	if err != nil {
		return err
	}
	from, to := time.Date(2026, 1, 1, 0, 0, 0, 0, loc), time.Date(2032, 1, 1, 0, 0, 0, 0, loc)
	fired := map[string]int{}
	for at := s.Next(from.Add(-time.Second)); at.Before(to); at = s.Next(at) {
		fired[at.In(loc).Format(time.DateOnly)]++
	}
	for day := from; day.Before(to); day = day.AddDate(0, 0, 1) {
		if n := fired[day.Format(time.DateOnly)]; n != 1 {
			return fmt.Errorf("%q in %s fires %d times on %s", schedule, tz, n, day.Format(time.DateOnly))
		}
	}
	return nil
}

// TestFiresOncePerDay shows the schedule check can fail: Chile moves its
// clocks from 00:00 to 01:00, so "just after midnight" skips a day.
func TestFiresOncePerDay(t *testing.T) {
	cases := []struct {
		schedule, tz string
		wantErr      string
	}{
		{schedule: "5 1 * * *", tz: "America/Santiago"},
		{schedule: "5 0 * * *", tz: "America/Santiago", wantErr: "fires 0 times on 2026-09-06"},
		{schedule: "5 0 * * *", tz: "UTC"},
		{schedule: "5 0,1 * * *", tz: "UTC", wantErr: "fires 2 times"},
		{schedule: "5 1 * * *", tz: "America/Sopaipilla", wantErr: "unknown time zone"},
	}
	for _, tc := range cases {
		t.Run(tc.schedule+" "+tc.tz, func(t *testing.T) {
			err := firesOncePerDay(tc.schedule, tc.tz)
			switch {
			case tc.wantErr == "" && err != nil:
				t.Error(err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Errorf("got %v, want an error about %q", err, tc.wantErr)
			}
		})
	}
}
