package main

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// functionEnv is the smallest environment each function starts with. Topics
// already exist (the first start creates them), as in a running cluster.
func (b *bench) functionEnv(name string) map[string]string {
	env := map[string]string{"KAFKA_BROKERS": strings.Join(b.brokers, ",")}
	if name == "sendmail" {
		env["MAIL_FROM"] = "bench@sopaipillas.example"
		env["SMTP_HOST"] = "127.0.0.1"
		env["SMTP_PORT"] = "2525"
		env["SMTP_TLS"] = "none"
	}
	return env
}

// coldStart execs each function binary several times and reports the median
// time from exec to its first 2xx on /readyz (ready to serve), its RSS after a second idle,
// and the binary's size.
func (b *bench) coldStart(ctx context.Context) error {
	runs := 7
	if b.quick {
		runs = 3
	}
	for _, name := range []string{"neworder", "dailysummary", "sendmail"} {
		var ready []time.Duration
		var rss float64
		// One start first, unmeasured, so that the topics exist.
		fn, err := startFunction(ctx, b.binDir, b.workDir, name, b.functionEnv(name))
		if err != nil {
			return err
		}
		fn.stop()
		for i := range runs {
			fn, err := startFunction(ctx, b.binDir, b.workDir, name, b.functionEnv(name))
			if err != nil {
				return err
			}
			ready = append(ready, fn.ready)
			if i == 0 {
				time.Sleep(time.Second)
				if rss, err = fn.rssMB(); err != nil {
					fn.stop()
					return err
				}
			}
			fn.stop()
		}
		slices.Sort(ready)
		med := ready[len(ready)/2]
		b.logf("cold start %s: %v (runs, sorted)", name, ready)
		st, err := os.Stat(filepath.Join(b.binDir, name))
		if err != nil {
			return err
		}
		b.add(figure{name: "coldstart_ms_" + name, value: float64(med.Microseconds()) / 1000, unit: "ms", target: targetFor("coldstart_ms_" + name)})
		b.add(figure{name: "idle_rss_mb_" + name, value: rss, unit: "MiB", target: targetFor("idle_rss_mb_" + name)})
		b.add(figure{name: "binary_mb_" + name, value: float64(st.Size()) / (1 << 20), unit: "MiB"})
	}
	return nil
}
