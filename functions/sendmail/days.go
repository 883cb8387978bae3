package sendmail

import (
	"fmt"
	"time"

	"github.com/sopaipillas/sopaipillas/events"
)

// acceptedDays returns the first and last day of the reports sendMail
// mails at now (UTC days); first is the zero Date when the ledger forgets
// nothing (retention 0).
//
// The rule that bounds them: the ledger must still hold every record ever
// written for a report's day, or a delivery could mail a reader again.
// No record of a day is written before the day has begun somewhere (the
// earliest time zone, UTC+14, is less than a day ahead of UTC), so none
// before the start, in UTC, of the day before: last is tomorrow in UTC.
// A record is kept for retention after it was written, so a day whose
// previous day began, in UTC, at least retention ago may have lost some:
// first is the earliest day after that. With the default 192h that is
// eight days: today in UTC, the six before and tomorrow.
func acceptedDays(now time.Time, retention time.Duration) (first, last events.Date) {
	last = events.DateOf(now, time.UTC).AddDays(1)
	if retention > 0 {
		first = events.DateOf(now.Add(-retention), time.UTC).AddDays(2)
	}
	return first, last
}

// checkDay refuses a report whose day is outside acceptedDays: a 422
// naming fecha, which the source dead-letters.
func (f *Function) checkDay(day events.Date) error {
	first, last := acceptedDays(f.opts.Now(), f.opts.Retention)
	bounded := first != events.Date{}
	var detail string
	switch {
	case last.Before(day):
		detail = day.String() + " has not begun in any time zone"
	case bounded && day.Before(first):
		detail = fmt.Sprintf("%s is older than the delivery ledger keeps its records (%s): its emails may have been sent already and could not be recognised", day, f.opts.Retention)
	default:
		return nil
	}
	if bounded {
		detail += fmt.Sprintf("; sendMail mails the reports of %s to %s", first, last)
	} else {
		detail += "; sendMail mails the reports of days up to " + last.String()
	}
	return &events.ValidationError{Fields: []events.FieldError{{Field: events.FieldFecha, Detail: detail}}}
}
