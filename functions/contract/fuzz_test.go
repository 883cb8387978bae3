package contract

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kelseyhightower/envconfig"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/sopaipillas/sopaipillas/functions/dailysummary"
	"github.com/sopaipillas/sopaipillas/functions/internal/server"
	"github.com/sopaipillas/sopaipillas/functions/neworder"
)

// fuzzChecks are schemathesis's standard checks the live functions must
// pass. positive_data_acceptance is left out: the named exceptions
// (calendar days, the future, retention) refuse bodies the schema accepts,
// and TestDifferential already proves every other valid body is accepted.
var fuzzChecks = []string{
	"not_a_server_error", "status_code_conformance", "content_type_conformance",
	"response_headers_conformance", "response_schema_conformance", "negative_data_rejection",
	"missing_required_header", "unsupported_method", "allow_header_conformance",
}

// TestAPIFuzz runs schemathesis from openapi.yaml against newOrder and
// dailySummary as they run in production (their Setup, on an embedded
// Kafka, behind the production server on a loopback port): no 5xx, answers
// conform to the document, documented statuses only, other methods 405
// with Allow. sendMail's receiver is left to its own tests, and salesBoard
// (tag salesBoard, served by its own function) to TestOpenAPIDriftSalesBoard,
// which drives each of its documented statuses on purpose: fuzzed paths
// such as /api/days/.. are redirected by Go's ServeMux before the board
// sees them, and its event stream never ends.
func TestAPIFuzz(t *testing.T) {
	py := python(t)
	root := repoRoot(t)
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cluster.Close)
	t.Setenv("KAFKA_BROKERS", strings.Join(cluster.ListenAddrs(), ","))
	t.Setenv("SUMMARY_TOKEN", "")

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	log := slog.New(slog.DiscardHandler)
	var noCfg neworder.Config
	var dsCfg dailysummary.Config
	for _, cfg := range []any{&noCfg, &dsCfg} {
		if err := envconfig.Process("", cfg); err != nil {
			t.Fatal(err)
		}
	}
	no, noClose, err := neworder.Setup(ctx, noCfg, log)
	if err != nil {
		t.Fatal(err)
	}
	defer noClose.Close()
	ds, dsClose, err := dailysummary.Setup(ctx, dsCfg, log)
	if err != nil {
		t.Fatal(err)
	}
	defer dsClose.Close()
	mux := http.NewServeMux()
	mux.Handle("/newOrder", no)
	mux.Handle("/dailySummary", ds)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- server.Serve(ctx, server.New(mux), ln, log) }()
	defer func() { cancel(); <-served }()

	cmd := exec.CommandContext(ctx, py, "-m", "schemathesis.cli", "run", filepath.Join(root, "api/openapi.yaml"),
		"--url", "http://"+ln.Addr().String(),
		"--checks", strings.Join(fuzzChecks, ","),
		"--exclude-path", "/", "--exclude-tag", "health", "--exclude-tag", "salesBoard",
		"--max-examples", "40", "--seed", "20251113", "--workers", "4",
		"--request-timeout", "30", "--no-color", "--warnings", "off",
		"--report", "junit", "--report-dir", t.TempDir())
	cmd.Env = append(cmd.Environ(), "SCHEMATHESIS_HOOKS=", "NO_COLOR=1")
	cmd.Dir = t.TempDir() // schemathesis keeps a cache of examples in its working directory
	start := time.Now()
	out, err := cmd.CombinedOutput()
	t.Logf("schemathesis (%s):\n%s", time.Since(start).Round(time.Second), out)
	if err != nil {
		t.Fatalf("schemathesis: %v", err)
	}
}
