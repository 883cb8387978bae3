package events

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

// TestParseURLDate: dd-mm-aaaa and dd/mm/aaaa, one separator throughout;
// errors quote the text as sent.
func TestParseURLDate(t *testing.T) {
	tests := []struct {
		in   string // the text in the URL
		want string // the day (dd/mm/aaaa), or the error
	}{
		{in: "13-11-2021", want: "13/11/2021"},
		{in: "13/11/2021", want: "13/11/2021"},
		{in: "29-02-2024", want: "29/02/2024"},
		{in: "29-02-2025", want: `"29-02-2025" is not a day of the calendar`},
		{in: "31/02/2025", want: `"31/02/2025" is not a day of the calendar`},
		{in: "00-01-0000", want: `"00-01-0000" is not a day of the calendar`},
		{in: "13-11/2021", want: `"13-11/2021" is not a date in the form dd-mm-aaaa (e.g. 13-11-2021)`},
		{in: "13/11-2021", want: `"13/11-2021" is not a date in the form dd-mm-aaaa (e.g. 13-11-2021)`},
		{in: "2021-11-13", want: `"2021-11-13" is not a date in the form dd-mm-aaaa (e.g. 13-11-2021)`},
		{in: "13.11.2021", want: `"13.11.2021" is not a date in the form dd-mm-aaaa (e.g. 13-11-2021)`},
		{in: "1-11-2021", want: `"1-11-2021" is not a date in the form dd-mm-aaaa (e.g. 13-11-2021)`},
		{in: "13-11-2021 ", want: `"13-11-2021 " is not a date in the form dd-mm-aaaa (e.g. 13-11-2021)`},
		{in: "١٣-١١-٢٠٢١", want: `"١٣-١١-٢٠٢١" is not a date in the form dd-mm-aaaa (e.g. 13-11-2021)`},
		{in: "", want: `"" is not a date in the form dd-mm-aaaa (e.g. 13-11-2021)`},
	}
	for _, tt := range tests {
		d, err := ParseURLDate(tt.in)
		got := d.String()
		if err != nil {
			got = err.Error()
		}
		if got != tt.want {
			t.Errorf("ParseURLDate(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	if got := (Date{2021, time.November, 3}).URL(); got != "03-11-2021" {
		t.Errorf("URL() = %q, want 03-11-2021", got)
	}
}

// TestParseURLDateGenerated: generated day, month and year numbers, written
// with either separator: parsed iff the day exists by the Gregorian rule
// written out here, and back to the same text by URL() or String().
func TestParseURLDateGenerated(t *testing.T) {
	exists := func(y, m, d int) bool {
		leap := y%4 == 0 && (y%100 != 0 || y%400 == 0)
		days := []int{31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31}
		return y >= 1 && m >= 1 && m <= 12 && d >= 1 && (d <= days[m-1] || (m == 2 && leap && d == 29))
	}
	rng := rand.New(rand.NewPCG(23, 7))
	for range 20000 {
		y, m, d := rng.IntN(10000), rng.IntN(14), rng.IntN(33)
		if rng.IntN(4) == 0 {
			y = []int{1900, 2000, 2024, 2025, 2100}[rng.IntN(5)]
		}
		for _, sep := range []string{"-", "/"} {
			s := fmt.Sprintf("%02d%s%02d%s%04d", d, sep, m, sep, y)
			got, err := ParseURLDate(s)
			if (err == nil) != exists(y, m, d) {
				t.Fatalf("ParseURLDate(%q) = %v, %v; the day exists: %v", s, got, err, exists(y, m, d))
			}
			if err == nil && strings.ReplaceAll(got.URL(), "-", sep) != s {
				t.Fatalf("ParseURLDate(%q).URL() = %q", s, got.URL())
			}
		}
	}
}
