package k8s_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/robfig/cron/v3"
	"sigs.k8s.io/yaml"
)

// helperVerdicts runs the chart's named template on each input, all in one
// `helm template` of a throwaway chart that holds the chart's _helpers.tpl,
// and returns what it said of each ("" when it found nothing wrong).
func helperVerdicts(t *testing.T, name string, inputs []string) map[string]string {
	t.Helper()
	dir := t.TempDir()
	helpers, err := os.ReadFile(filepath.Join(chartDir(t), "templates", "_helpers.tpl"))
	if err != nil {
		t.Fatal(err)
	}
	values, err := json.Marshal(map[string]any{"inputs": inputs})
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]string{
		"Chart.yaml":             "apiVersion: v2\nname: probe\nversion: 0.1.0\n",
		"values.yaml":            string(values),
		"templates/_helpers.tpl": string(helpers),
		"templates/verdicts.yaml": `{{- $out := dict }}
{{- range .Values.inputs }}{{ $_ := set $out . (include "` + name + `" .) }}{{ end -}}
apiVersion: v1
kind: ConfigMap
metadata:
  name: verdicts
data:
  verdicts: {{ toJson $out | quote }}
`,
	}
	for path, content := range files {
		path = filepath.Join(dir, path)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	out, err := run(nil, tool(t, "helm"), "template", "probe", dir)
	if err != nil {
		t.Fatal(err)
	}
	var cm struct{ Data struct{ Verdicts string } }
	if err := yaml.Unmarshal(out, &cm); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	verdicts := map[string]string{}
	if err := json.Unmarshal([]byte(cm.Data.Verdicts), &verdicts); err != nil {
		t.Fatal(err)
	}
	if len(verdicts) != len(dedupe(inputs)) {
		t.Fatalf("%d verdicts for %d inputs", len(verdicts), len(dedupe(inputs)))
	}
	return verdicts
}

func dedupe(in []string) map[string]bool {
	out := map[string]bool{}
	for _, s := range in {
		out[s] = true
	}
	return out
}

// randomSchedule generates 5-field cron schedules, about half of them valid:
// each value is now and then just outside its field's bounds or a name (of a
// month or day, in any case, in its field or another), ranges now and then
// run backwards, steps are now and then 0, and a few have 4 or 6 fields.
func randomSchedule(r *rand.Rand) string {
	fields := 5
	if r.IntN(30) == 0 {
		fields = 4 + 2*r.IntN(2)
	}
	minima, maxima := []int{0, 0, 1, 1, 0}, []int{59, 23, 31, 12, 6}
	names := [][]string{4: {"sun", "Mon", "SAT"}, 3: {"jan", "Jun", "DEC"}}
	value := func(f int) int {
		lo, hi := minima[f%5], maxima[f%5]
		switch n := r.IntN(100); {
		case n < 2:
			return []int{lo - 1, hi + 1}[r.IntN(2)]
		case n < 30:
			return []int{lo, hi}[r.IntN(2)]
		default:
			return lo + r.IntN(hi-lo+1)
		}
	}
	show := func(f, v int) string {
		if v >= 0 && r.IntN(10) == 0 {
			if kinds := names[f%5:]; len(kinds) > 0 && len(kinds[0]) > 0 && r.IntN(5) > 0 {
				return kinds[0][v%len(kinds[0])]
			}
			return []string{"jan", "sun", "foo"}[r.IntN(3)]
		}
		return fmt.Sprint(v)
	}
	var out []string
	for f := range fields {
		var parts []string
		for range 1 + r.IntN(2) {
			var part string
			switch a, b := value(f), value(f); r.IntN(4) {
			case 0:
				part = []string{"*", "?"}[r.IntN(2)]
			case 1:
				part = show(f, a)
			default:
				if a > b && r.IntN(12) > 0 {
					a, b = b, a
				}
				part = show(f, a) + "-" + show(f, b)
			}
			if r.IntN(5) == 0 {
				part += "/" + fmt.Sprint([]int{0, 1, 2, 7, 15, 60}[r.IntN(6)])
			}
			parts = append(parts, part)
		}
		out = append(out, strings.Join(parts, ","))
	}
	return strings.Join(out, " ")
}

// TestScheduleCheckAgreesWithKnative: the chart's schedule check refuses
// exactly the schedules Knative's PingSource webhook refuses, which parses
// "CRON_TZ=<timezone> <schedule>" with robfig/cron's standard parser.
func TestScheduleCheckAgreesWithKnative(t *testing.T) {
	r := rand.New(rand.NewPCG(26, 21))
	inputs := []string{"5 1 * * *", "0 25 * * *", "5 3-1 * * *", "*/0 1 * * *", "5 1 * JAN-dec mon-SAT", "0 0 31 2 *"}
	for range 2000 {
		inputs = append(inputs, randomSchedule(r))
	}
	verdicts := helperVerdicts(t, "sopaipillas.scheduleProblem", inputs)
	disagreements := 0
	for _, schedule := range inputs {
		_, err := cron.ParseStandard("CRON_TZ=UTC " + schedule)
		if verdict := verdicts[schedule]; (err == nil) != (verdict == "") {
			t.Errorf("schedule %q: Knative (robfig/cron) says %v, the chart says %q", schedule, err, verdict)
			if disagreements++; disagreements == 10 {
				t.FailNow()
			}
		}
	}
}

// ianaZones lists the zone and link names of the IANA time zone database
// installed with the system (tzdata.zi), or a few when it has none.
func ianaZones(t *testing.T) []string {
	f, err := os.Open("/usr/share/zoneinfo/tzdata.zi")
	if err != nil {
		t.Logf("no tzdata.zi (%v): checking a few zones only", err)
		return []string{"America/Santiago", "Europe/Madrid", "UTC", "Etc/GMT+4", "Asia/Kolkata"}
	}
	defer f.Close()
	var zones []string
	scanner := bufio.NewScanner(f)
	for scanner.Scan() {
		switch fields := strings.Fields(scanner.Text()); {
		case len(fields) >= 2 && fields[0] == "Z":
			zones = append(zones, fields[1])
		case len(fields) == 3 && fields[0] == "L":
			zones = append(zones, fields[2])
		}
	}
	if err := scanner.Err(); err != nil {
		t.Fatal(err)
	}
	return zones
}

// TestTimeZoneCheckAgreesWithKnative: the chart's time zone check refuses
// exactly the zones Go's time.LoadLocation refuses, which Knative's
// PingSource webhook calls (through robfig/cron's CRON_TZ), over the IANA
// database and names that are not in it. ("" and "Local", which LoadLocation
// takes, are refused by values.schema.json.)
func TestTimeZoneCheckAgreesWithKnative(t *testing.T) {
	inputs := append(ianaZones(t), "Mars/Olympus", "America/Sopaipilla", "america/santiago", "UTC+3", "Etc/GMT+15", "Chile")
	verdicts := helperVerdicts(t, "sopaipillas.timeZoneProblem", inputs)
	for _, zone := range inputs {
		_, err := time.LoadLocation(zone)
		if verdict := verdicts[zone]; (err == nil) != (verdict == "") {
			t.Errorf("time zone %q: time.LoadLocation says %v, the chart says %q", zone, err, verdict)
		}
	}
}
