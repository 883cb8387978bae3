package events

import (
	"fmt"
	"regexp"
	"time"
)

// DateLayout is the contract's date format, dd/mm/YYYY, as in "13/11/2021".
const DateLayout = "02/01/2006"

// Date is a calendar day, with no time zone of its own: the business time
// zone decides which instants belong to it.
type Date struct {
	Year  int
	Month time.Month
	Day   int
}

var dateShape = regexp.MustCompile(`^[0-9]{2}/[0-9]{2}/[0-9]{4}$`)

// ParseDate parses "dd/mm/YYYY" strictly: two-digit day and month, a day
// that exists (no 31/02/2025), no other format.
func ParseDate(s string) (Date, error) {
	if !dateShape.MatchString(s) {
		return Date{}, fmt.Errorf("%q is not a date in the form dd/mm/aaaa (e.g. 13/11/2021)", s)
	}
	return calendarDay(s, DateLayout)
}

// URLDateLayout is the date as URLs write it, dd-mm-YYYY ("13-11-2021"):
// no slash to escape in a path. The sales board's URLs use it.
const URLDateLayout = "02-01-2006"

var urlDateShape = regexp.MustCompile(`^[0-9]{2}-[0-9]{2}-[0-9]{4}$`)

// ParseURLDate parses a day of a URL: dd-mm-aaaa, or the contract's
// dd/mm/aaaa, one separator throughout, as strictly as ParseDate. Its
// errors quote s as sent.
func ParseURLDate(s string) (Date, error) {
	switch {
	case urlDateShape.MatchString(s):
		return calendarDay(s, URLDateLayout)
	case dateShape.MatchString(s):
		return calendarDay(s, DateLayout)
	}
	return Date{}, fmt.Errorf("%q is not a date in the form dd-mm-aaaa (e.g. 13-11-2021)", s)
}

// calendarDay parses s, of the shape of layout, as a day that exists.
func calendarDay(s, layout string) (Date, error) {
	t, err := time.Parse(layout, s)
	if err != nil || t.Year() < 1 { // the Gregorian calendar has no year 0
		return Date{}, fmt.Errorf("%q is not a day of the calendar", s)
	}
	return DateOf(t, time.UTC), nil
}

// DateOf is the calendar day of t in loc.
func DateOf(t time.Time, loc *time.Location) Date {
	y, m, d := t.In(loc).Date()
	return Date{Year: y, Month: m, Day: d}
}

// String formats the date as the contract does: "13/11/2021".
func (d Date) String() string {
	return fmt.Sprintf("%02d/%02d/%04d", d.Day, int(d.Month), d.Year)
}

// URL formats the date as URLs write it (URLDateLayout): "13-11-2021".
func (d Date) URL() string {
	return fmt.Sprintf("%02d-%02d-%04d", d.Day, int(d.Month), d.Year)
}

// ISO formats the date as "2021-11-13", for ids and file names.
func (d Date) ISO() string {
	return fmt.Sprintf("%04d-%02d-%02d", d.Year, int(d.Month), d.Day)
}

// AddDays returns the date n days later (earlier for negative n).
func (d Date) AddDays(n int) Date {
	return DateOf(time.Date(d.Year, d.Month, d.Day+n, 12, 0, 0, 0, time.UTC), time.UTC)
}

// Before reports whether d is an earlier day than o.
func (d Date) Before(o Date) bool {
	return d.ISO() < o.ISO()
}

// Bounds returns the first instant of d in loc and the first instant of the
// next day. Days are not always 24 hours long: where a daylight-saving change
// skips or repeats midnight (America/Santiago does both) the bounds follow the
// clock on the wall.
func (d Date) Bounds(loc *time.Location) (start, end time.Time) {
	return d.firstInstant(loc), d.AddDays(1).firstInstant(loc)
}

// firstInstant finds the earliest instant whose local date is d. time.Date
// leaves a skipped or repeated midnight ambiguous, so it searches minute by
// minute around it: every zone changes offset on a whole minute.
func (d Date) firstInstant(loc *time.Location) time.Time {
	guess := time.Date(d.Year, d.Month, d.Day, 0, 0, 0, 0, loc)
	t := guess.Add(-3 * time.Hour).Truncate(time.Minute)
	for end := guess.Add(3 * time.Hour); t.Before(end); t = t.Add(time.Minute) {
		if DateOf(t, loc) == d {
			return t
		}
	}
	return guess
}
