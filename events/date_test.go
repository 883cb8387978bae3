package events

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestParseDate(t *testing.T) {
	tests := []struct {
		in      string // the text sent as fecha
		want    Date   // the day, when ok
		wantErr bool   // refused
	}{
		{in: "13/11/2021", want: Date{2021, time.November, 13}},
		{in: "01/01/2025", want: Date{2025, time.January, 1}},
		{in: "31/12/2025", want: Date{2025, time.December, 31}},
		{in: "29/02/2024", want: Date{2024, time.February, 29}}, // leap year
		{in: "29/02/2000", want: Date{2000, time.February, 29}}, // divisible by 400
		{in: "29/02/2025", wantErr: true},
		{in: "29/02/1900", wantErr: true}, // divisible by 100, not 400
		{in: "31/02/2025", wantErr: true},
		{in: "31/04/2025", wantErr: true},
		{in: "00/01/2025", wantErr: true},
		{in: "01/00/2025", wantErr: true},
		{in: "01/13/2025", wantErr: true},
		{in: "32/01/2025", wantErr: true},
		{in: "2025-11-13", wantErr: true},
		{in: "2025/11/13", wantErr: true},
		{in: "11/13/2025", wantErr: true}, // US order
		{in: "1/1/2025", wantErr: true},
		{in: "13/11/21", wantErr: true},
		{in: "13-11-2021", wantErr: true},
		{in: "13.11.2021", wantErr: true},
		{in: " 13/11/2021", wantErr: true},
		{in: "13/11/2021 ", wantErr: true},
		{in: "13/11/2021\n", wantErr: true},
		{in: "13/11/20210", wantErr: true},
		{in: "+13/11/2021", wantErr: true},
		{in: "١٣/١١/٢٠٢١", wantErr: true}, // Arabic-Indic digits
		{in: "", wantErr: true},
		{in: "today", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseDate(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("ParseDate(%q) = %v, %v; want error %v", tt.in, got, err, tt.wantErr)
			}
			if tt.wantErr {
				return
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("ParseDate (-want, +got):\n%s", diff)
			}
			if got.String() != tt.in {
				t.Errorf("String() = %q, want %q", got.String(), tt.in)
			}
		})
	}
}

func TestDateFormatting(t *testing.T) {
	d := Date{2021, time.November, 3}
	got := []string{d.String(), d.ISO(), d.AddDays(1).String(), d.AddDays(-3).String(), Date{2024, time.February, 28}.AddDays(1).String(), Date{2025, time.December, 31}.AddDays(1).String()}
	want := []string{"03/11/2021", "2021-11-03", "04/11/2021", "31/10/2021", "29/02/2024", "01/01/2026"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("formatting (-want, +got):\n%s", diff)
	}
	if !d.Before(d.AddDays(1)) || d.Before(d) || d.AddDays(1).Before(d) {
		t.Errorf("Before is not the calendar order")
	}
}

func TestBounds(t *testing.T) {
	santiago, err := time.LoadLocation("America/Santiago")
	if err != nil {
		t.Fatalf("loading America/Santiago: %v", err)
	}
	// Chile's 2025 changes, as tzdata has them: on 2025-04-06 at 00:00 -03
	// clocks went back to 23:00 -04 of the 5th (the 5th has 25 hours); on
	// 2025-09-07 at 00:00 -04 they jumped to 01:00 -03 (midnight of the 7th
	// never happened, and the day has 23 hours).
	tests := []struct {
		day       string         // dd/mm/YYYY
		loc       *time.Location // business time zone
		wantStart string         // RFC 3339
		wantEnd   string         // RFC 3339
		wantLen   time.Duration  // end - start
	}{
		{day: "13/11/2021", loc: santiago, wantStart: "2021-11-13T00:00:00-03:00", wantEnd: "2021-11-14T00:00:00-03:00", wantLen: 24 * time.Hour},
		{day: "04/04/2025", loc: santiago, wantStart: "2025-04-04T00:00:00-03:00", wantEnd: "2025-04-05T00:00:00-03:00", wantLen: 24 * time.Hour},
		{day: "05/04/2025", loc: santiago, wantStart: "2025-04-05T00:00:00-03:00", wantEnd: "2025-04-06T00:00:00-04:00", wantLen: 25 * time.Hour},
		{day: "06/04/2025", loc: santiago, wantStart: "2025-04-06T00:00:00-04:00", wantEnd: "2025-04-07T00:00:00-04:00", wantLen: 24 * time.Hour},
		{day: "06/09/2025", loc: santiago, wantStart: "2025-09-06T00:00:00-04:00", wantEnd: "2025-09-07T01:00:00-03:00", wantLen: 24 * time.Hour},
		{day: "07/09/2025", loc: santiago, wantStart: "2025-09-07T01:00:00-03:00", wantEnd: "2025-09-08T00:00:00-03:00", wantLen: 23 * time.Hour},
		{day: "08/09/2025", loc: santiago, wantStart: "2025-09-08T00:00:00-03:00", wantEnd: "2025-09-09T00:00:00-03:00", wantLen: 24 * time.Hour},
		{day: "05/04/2025", loc: time.UTC, wantStart: "2025-04-05T00:00:00Z", wantEnd: "2025-04-06T00:00:00Z", wantLen: 24 * time.Hour},
		{day: "07/09/2025", loc: time.UTC, wantStart: "2025-09-07T00:00:00Z", wantEnd: "2025-09-08T00:00:00Z", wantLen: 24 * time.Hour},
		{day: "29/02/2024", loc: time.UTC, wantStart: "2024-02-29T00:00:00Z", wantEnd: "2024-03-01T00:00:00Z", wantLen: 24 * time.Hour},
	}
	for _, tt := range tests {
		t.Run(tt.day+" "+tt.loc.String(), func(t *testing.T) {
			d, err := ParseDate(tt.day)
			if err != nil {
				t.Fatal(err)
			}
			start, end := d.Bounds(tt.loc)
			got := []string{start.Format(time.RFC3339), end.Format(time.RFC3339), end.Sub(start).String()}
			want := []string{tt.wantStart, tt.wantEnd, tt.wantLen.String()}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("Bounds (-want, +got):\n%s", diff)
			}
			// The bounds are the first instant of the day and of the next:
			// one nanosecond earlier is still the day before.
			if DateOf(start, tt.loc) != d || DateOf(start.Add(-time.Nanosecond), tt.loc) == d {
				t.Errorf("start %v is not the first instant of %v", start, d)
			}
			if DateOf(end, tt.loc) != d.AddDays(1) || DateOf(end.Add(-time.Nanosecond), tt.loc) != d {
				t.Errorf("end %v is not the first instant of the next day", end)
			}
		})
	}
}

func TestBoundsTile(t *testing.T) {
	santiago, err := time.LoadLocation("America/Santiago")
	if err != nil {
		t.Fatal(err)
	}
	// Every day of two years ends where the next begins, whatever the
	// changes of offset in between.
	d := Date{2024, time.January, 1}
	for range 731 {
		_, end := d.Bounds(santiago)
		next, _ := d.AddDays(1).Bounds(santiago)
		if !end.Equal(next) {
			t.Fatalf("%v ends at %v but %v starts at %v", d, end, d.AddDays(1), next)
		}
		d = d.AddDays(1)
	}
}
