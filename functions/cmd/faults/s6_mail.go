package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/sopaipillas/sopaipillas/events"
)

// mailVendors is how many vendors the mail scenario's summary has.
const mailVendors = 300

// scenarioMail: a summary for 300 vendors reaches sendMail through a
// KafkaSource stand-in while the SMTP server is down; the server comes
// back, sendMail is SIGKILLed a third of the way through the fan-out and
// restarted, and the SMTP server goes down again for a while at two thirds.
// Once things recover every vendor must have exactly one email.
func scenarioMail(ctx context.Context, h *harness, row *Row) error {
	k, err := h.singleBroker(ctx)
	if err != nil {
		return err
	}
	p, err := h.startPipeline(ctx, k)
	if err != nil {
		return err
	}
	box, err := newMailbox()
	if err != nil {
		return err
	}
	h.onClose(box.down)
	box.down() // down from the start
	sendMail, err := h.newFunction(p.name("sendmail"), "sendmail", append(p.env("sendmail"),
		"MAIL_FROM=reportes@sopaipillas.example", "SMTP_HOST=127.0.0.1", "SMTP_PORT="+box.port(),
		"SMTP_TLS=none", "SMTP_TIMEOUT=5s", "MAIL_RATE_PER_SECOND=30",
		// The claims of a SIGKILLed sendMail hold their vendors until the
		// lease ends: short here, so the run stays short.
		"MAIL_LEDGER_TOPIC=mail-sent-"+p.tag, "MAIL_LEDGER_LEASE=30s")...)
	if err != nil {
		return err
	}
	if err := sendMail.start(ctx); err != nil {
		return err
	}

	// One order per vendor, then the day's summary onto the summary topic.
	res := newLoad(loadConfig{
		URL: p.newOrder.url("/newOrder"), FirstID: 6_000_000, Count: mailVendors, Vendors: mailVendors,
		Concurrency: h.opts.concurrency, Deadline: time.Minute,
	}).Run(ctx)
	if len(res.Acked) != mailVendors {
		return fmt.Errorf("only %d of %d orders acknowledged", len(res.Acked), mailVendors)
	}
	summary, _, err := summaryUntilOK(ctx, p.summary.url("/dailySummary"), events.DateOf(res.End, santiago).String())
	if err != nil {
		return err
	}
	if len(summary.Summary.Ventas) != mailVendors {
		return fmt.Errorf("the summary has %d vendors, want %d", len(summary.Summary.Ventas), mailVendors)
	}

	src := &source{brokers: k.brokers, topic: p.summaryTopic, sink: sendMail.url("/"), settled: map[string]bool{}}
	srcCtx, stopSource := context.WithCancel(ctx)
	srcDone := make(chan error, 1)
	go func() { srcDone <- src.run(srcCtx) }()
	defer func() { stopSource(); <-srcDone }()
	start := time.Now()

	// The faults, timed by the emails that got through.
	if err := sleep(ctx, 3*time.Second); err != nil {
		return err
	}
	if err := box.up(); err != nil {
		return err
	}
	logf("SMTP server up after 3s down")
	if err := waitRecipients(ctx, box, mailVendors/3); err != nil {
		return err
	}
	sendMail.kill()
	killedAt := time.Now()
	logf("sendMail SIGKILLed with %d of %d vendors emailed", box.recipients(), mailVendors)
	if err := sendMail.start(ctx); err != nil {
		return err
	}
	if err := waitRecipients(ctx, box, 2*mailVendors/3); err != nil {
		return err
	}
	downAt := time.Now()
	box.down()
	logf("SMTP server down with %d of %d vendors emailed", box.recipients(), mailVendors)
	if err := sleep(ctx, 3*time.Second); err != nil {
		return err
	}
	if err := box.up(); err != nil {
		return err
	}
	logf("SMTP server up again")

	// Recovery: the source's delivery settles; then a little longer for
	// any stray email.
	deadline := time.Now().Add(2 * time.Minute)
	settled := func() bool {
		for _, id := range append([]string{summary.EventID}, summary.CookReportEventIDs...) {
			if !src.isSettled(id) {
				return false
			}
		}
		return true
	}
	for !settled() && !src.deadLettered() {
		if time.Now().After(deadline) {
			row.fail("the summary and cook report events were not settled within 2 minutes")
			break
		}
		if err := sleep(ctx, 100*time.Millisecond); err != nil {
			return err
		}
	}
	settledAfter := time.Since(start)
	_ = sleep(ctx, 2*time.Second)
	checkMail(row, box.emails(), summary, src.deliveries(), settledAfter, killedAt)
	for _, d := range duplicates(box.emails()) {
		logf("duplicate email to %s: copies accepted %s after the sendMail kill, %s after the SMTP outage began",
			d[0].To, relative(d, killedAt), relative(d, downAt))
	}
	return nil
}

// duplicates groups the emails of recipients who got more than one.
func duplicates(emails []email) [][]email {
	by := map[string][]email{}
	for _, e := range emails {
		by[e.To] = append(by[e.To], e)
	}
	var out [][]email
	for _, list := range by {
		if len(list) > 1 {
			out = append(out, list)
		}
	}
	return out
}

// relative lists when each email came, relative to t.
func relative(list []email, t time.Time) string {
	var parts []string
	for _, e := range list {
		parts = append(parts, e.At.Sub(t).Round(time.Millisecond).String())
	}
	return strings.Join(parts, " and ")
}

// crashWindow is how long before the SIGKILL an email may have been
// accepted and still be sent again: sendMail records "sent" only after the
// SMTP server accepted the email, and a process killed between the two
// cannot know. No SMTP sender can close that gap; the repeated copy carries
// the same Message-ID so the receiving side drops it. Such a copy is
// reported, not counted as a double; any other copy fails the scenario.
const crashWindow = 250 * time.Millisecond

// checkMail fills the row: every vendor of the summary, and every cook of
// its cook reports, exactly one email.
func checkMail(row *Row, emails []email, s summaryAnswer, deliveries []delivery, took time.Duration, killedAt time.Time) {
	perVendor := map[string][]email{}
	for _, e := range emails {
		perVendor[e.To] = append(perVendor[e.To], e)
	}
	readers := map[string]bool{}
	for v := range s.Summary.Ventas {
		readers[v] = true
	}
	for c := range s.CookReports.Cocineros {
		readers[c] = true
	}
	missing, extra, sameID, crashResent, strangers := 0, 0, 0, 0, 0
	for vendor := range readers {
		list := perVendor[vendor]
		switch {
		case len(list) == 0:
			missing++
		case len(list) == 2 && list[0].MessageID == list[1].MessageID && inCrashWindow(list, killedAt):
			crashResent++
			sameID++
		case len(list) > 1:
			extra += len(list) - 1
			if allSameID(list) {
				sameID += len(list) - 1
			}
		}
	}
	for to := range perVendor {
		if !readers[to] {
			strangers++
		}
	}
	statuses := map[string]int{}
	ok := 0
	for _, d := range deliveries {
		if d.status/100 == 2 {
			ok++
		}
		statuses[statusName(d.status)]++
	}
	row.Sent = len(readers)
	row.Acked = ok
	row.Counted = len(emails) - crashResent
	row.Lost = missing
	row.Double = extra
	row.note("summary %s and %d cook reports delivered %d times (%s), settled %s after the source started; %d vendors and cooks emailed, %d duplicates (%d with the same Message-ID); %d re-sent because the first copy was accepted within %s before the SIGKILL (same Message-ID)",
		s.EventID, len(s.CookReportEventIDs), len(deliveries), errorSummary(statuses), took.Round(100*time.Millisecond), len(perVendor)-strangers, extra, sameID, crashResent, crashWindow)
	if missing > 0 {
		row.fail("%d vendors or cooks got no email", missing)
	}
	if extra > 0 {
		row.fail("%d emails more than one per reader", extra)
	}
	if strangers > 0 {
		row.fail("%d emails to addresses neither in the summary nor in its cook reports", strangers)
	}
}

// inCrashWindow reports whether the first of two copies was accepted just
// before the kill and the second after it.
func inCrashWindow(list []email, killedAt time.Time) bool {
	first, second := list[0], list[1]
	if second.At.Before(first.At) {
		first, second = second, first
	}
	return !first.At.After(killedAt) && killedAt.Sub(first.At) <= crashWindow && second.At.After(killedAt)
}

func allSameID(list []email) bool {
	for _, e := range list[1:] {
		if e.MessageID != list[0].MessageID {
			return false
		}
	}
	return true
}

func statusName(status int) string {
	if status == 0 {
		return "no answer"
	}
	return fmt.Sprintf("HTTP %d", status)
}

// waitRecipients waits until n distinct vendors have mail (at most 2m).
func waitRecipients(ctx context.Context, box *mailbox, n int) error {
	deadline := time.Now().Add(2 * time.Minute)
	for box.recipients() < n {
		if time.Now().After(deadline) {
			return fmt.Errorf("only %d vendors emailed after 2 minutes, waiting for %d", box.recipients(), n)
		}
		if err := sleep(ctx, 20*time.Millisecond); err != nil {
			return err
		}
	}
	return nil
}
