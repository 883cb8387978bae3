package main

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// na marks a count that does not apply to a scenario.
const na = -1

// Row is one scenario's figures. Lost and Double must be 0 for it to pass.
type Row struct {
	ID, Name string
	// Sent is how many distinct orders (or emails due) the scenario sent;
	// Acked how many were answered 2xx; Counted how many the summary (or
	// the mailbox) has.
	Sent, Acked, Counted int
	// Lost is acknowledged but missing; Double is counted more than once.
	Lost, Double int
	// Unavailable is the longest stretch without a 2xx while clients were
	// getting errors; negative when it does not apply.
	Unavailable time.Duration
	// LongestAnswer is the longest any request to a function waited for
	// its answer; negative when not measured.
	LongestAnswer time.Duration
	// PeakRSS is the largest resident set of any function process during
	// the scenario (bytes), PeakRSSOf that process.
	PeakRSS   int64
	PeakRSSOf string
	Took      time.Duration
	Notes     string
	Pass      bool
}

// note appends a remark to the row's notes.
func (r *Row) note(format string, args ...any) {
	if r.Notes != "" {
		r.Notes += "; "
	}
	r.Notes += fmt.Sprintf(format, args...)
}

// fail marks the row failed with a reason.
func (r *Row) fail(format string, args ...any) {
	r.Pass = false
	r.note("FAIL: "+format, args...)
}

// printRow prints one scenario's row as soon as it is done.
func printRow(r Row) {
	fmt.Printf("scenario %s %s: sent %s, 2xx %s, counted %s, lost %s, double-counted %s, longest unavailability %s, longest answer %s, peak RSS %s, took %s\n  %s\n",
		r.ID, verdict(r.Pass), count(r.Sent), count(r.Acked), count(r.Counted), count(r.Lost), count(r.Double),
		duration(r.Unavailable), duration(r.LongestAnswer), mib(r.PeakRSS, r.PeakRSSOf), r.Took.Round(time.Second), r.Notes)
}

// renderTable is the markdown table of all rows, then each row's notes.
func renderTable(rows []Row) string {
	var b strings.Builder
	b.WriteString("| # | scenario | sent | 2xx | counted | lost | double-counted | longest unavailability | longest answer | peak RSS | took | result |\n")
	b.WriteString("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|\n")
	for _, r := range rows {
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n",
			r.ID, r.Name, count(r.Sent), count(r.Acked), count(r.Counted), count(r.Lost), count(r.Double),
			duration(r.Unavailable), duration(r.LongestAnswer), mib(r.PeakRSS, r.PeakRSSOf), r.Took.Round(time.Second), verdict(r.Pass))
	}
	b.WriteString("\n" + legend + "\n\n")
	for _, r := range rows {
		fmt.Fprintf(&b, "- **%s**: %s\n", r.ID, r.Notes)
	}
	return b.String()
}

// legend explains the columns under the table.
const legend = "sent: distinct orders (emails due in 6); 2xx: orders acknowledged (deliveries answered 2xx in 6); " +
	"counted: orders in the summary (emails received in 6); lost: acknowledged but missing from the topic or the summary " +
	"(vendors without email in 6); double-counted: counted minus distinct orders on the topic (extra emails in 6); " +
	"longest unavailability: longest time newOrder gave no 2xx to any client while the fault was on, " +
	"whether requests failed or hung; longest answer: the longest any request to newOrder (or a summary, in 9 and 10) waited for its answer; " +
	"peak RSS: the largest resident set of any function process during the scenario. In 7 and 8 sent and 2xx also hold the orders written straight onto the topic " +
	"(acknowledged by Kafka, or in a committed transaction), every order has its own vendor so that the summaries show " +
	"where each counted, and an aborted order counted is double-counted."

func count(n int) string {
	if n == na {
		return "—"
	}
	return strconv.Itoa(n)
}

func duration(d time.Duration) string {
	if d < 0 {
		return "—"
	}
	return d.Round(10 * time.Millisecond).String()
}

// mib renders a byte count in MiB with the process it belongs to.
func mib(n int64, of string) string {
	if n <= 0 {
		return "—"
	}
	s := fmt.Sprintf("%.0f MiB", float64(n)/(1<<20))
	if of != "" {
		s += " (" + of + ")"
	}
	return s
}
