package runner_test

import (
	"strings"
	"testing"
	"time"

	"github.com/sopaipillas/sopaipillas/functions/internal/runner"
)

type Inner struct {
	Topic string `envconfig:"SOPA_TEST_TOPIC" default:"order"`
}

type settings struct {
	Inner
	Name     string        `envconfig:"SOPA_TEST_NAME" default:"Sopaipillas"`
	Secret   runner.Secret `envconfig:"SOPA_TEST_SECRET"`
	Hosts    []string      `envconfig:"SOPA_TEST_HOSTS"`
	Timeout  time.Duration `envconfig:"SOPA_TEST_TIMEOUT" default:"5s" check:"positive"`
	Interval time.Duration `envconfig:"SOPA_TEST_INTERVAL" default:"0s"`
	Rate     float64       `envconfig:"SOPA_TEST_RATE" default:"1" check:"positive"`
	Count    int           `envconfig:"SOPA_TEST_COUNT" default:"0" check:"nonnegative"`
	Port     int           `envconfig:"SOPA_TEST_PORT" default:"1"`
}

// TestLoad: a bad setting stops the function at start, the error naming
// the variable and never its value.
func TestLoad(t *testing.T) {
	tests := []struct {
		name, value string
		want        string // the variable the error names; "" for none
	}{
		{"SOPA_TEST_NAME", "Sopa\r\nBcc: x@y.cl", "SOPA_TEST_NAME"},
		{"SOPA_TEST_NAME", "Sopa\u2028pillas", "SOPA_TEST_NAME"},
		{"SOPA_TEST_NAME", "Sopa\u0085pillas", "SOPA_TEST_NAME"},
		{"SOPA_TEST_NAME", "Sopaipillas Pérez", ""},
		{"SOPA_TEST_SECRET", "s3cr3t-value\n", ""}, // a Secret's trailing line break is not part of it
		{"SOPA_TEST_SECRET", "s3cr3t\x01value", "SOPA_TEST_SECRET"},
		{"SOPA_TEST_TOPIC", "or\tder", "SOPA_TEST_TOPIC"},
		{"SOPA_TEST_HOSTS", "a:1,b\r:2", "SOPA_TEST_HOSTS"},
		{"SOPA_TEST_TIMEOUT", "0s", "SOPA_TEST_TIMEOUT"},
		{"SOPA_TEST_TIMEOUT", "-1s", "SOPA_TEST_TIMEOUT"},
		{"SOPA_TEST_TIMEOUT", "soon-secret", "SOPA_TEST_TIMEOUT"},
		{"SOPA_TEST_INTERVAL", "-5s", "SOPA_TEST_INTERVAL"},
		{"SOPA_TEST_INTERVAL", "0s", ""},
		{"SOPA_TEST_RATE", "0", "SOPA_TEST_RATE"},
		{"SOPA_TEST_RATE", "NaN", "SOPA_TEST_RATE"},
		{"SOPA_TEST_RATE", "0.5", ""},
		{"SOPA_TEST_COUNT", "-1", "SOPA_TEST_COUNT"},
		{"SOPA_TEST_COUNT", "0", ""},
		{"SOPA_TEST_PORT", "ochenta-secret", "SOPA_TEST_PORT"},
		{"SOPA_TEST_PORT", "99999999999999999999", "SOPA_TEST_PORT"},
	}
	for _, tt := range tests {
		t.Run(tt.name+"="+tt.value, func(t *testing.T) {
			t.Setenv(tt.name, tt.value)
			var cfg settings
			err := runner.Load(&cfg)
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("error %v, want none", err)
			case tt.want == "":
				return
			case err == nil:
				t.Fatalf("no error, want one naming %s", tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not name %s", err, tt.want)
			}
			if v := strings.TrimSpace(tt.value); strings.Contains(err.Error(), v) {
				t.Errorf("error %q repeats the value", err)
			}
		})
	}
}

// TestLoadCallsCheck: a configuration's own Check runs after the fields'.
func TestLoadCallsCheck(t *testing.T) {
	if err := runner.Load(&withCheck{}); err == nil || !strings.Contains(err.Error(), "SOPA_TEST_A and SOPA_TEST_B") {
		t.Errorf("error %v, want Check's", err)
	}
}

type withCheck struct {
	A int `envconfig:"SOPA_TEST_A" default:"1"`
	B int `envconfig:"SOPA_TEST_B" default:"1"`
}

func (w *withCheck) Check() error {
	if w.A == w.B {
		return errorString("SOPA_TEST_A and SOPA_TEST_B must differ")
	}
	return nil
}

type errorString string

func (e errorString) Error() string { return string(e) }
