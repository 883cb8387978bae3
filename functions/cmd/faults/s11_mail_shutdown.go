package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/IBM/sarama"
	cloudevents "github.com/cloudevents/sdk-go/v2"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"

	"github.com/sopaipillas/sopaipillas/events"
)

// shutdownVendors is how many vendors the shutdown scenario's report has:
// about 20 s of fan-out at sendMail's default 50 emails a second.
const shutdownVendors = 1000

// scenarioMailShutdown: a final vendor report of 1,000 vendors is delivered to
// sendMail as a KafkaSource does (again and again until a 2xx). A quarter
// of the way through the fan-out sendMail is SIGKILLed and restarted: the
// killed process's claims must be taken over within a lease
// (MAIL_LEDGER_LEASE, 15 s by default). Past three quarters it gets
// SIGTERM, as Knative gives a pod it scales down: it must answer the
// delivery in flight with a 503 and exit well within the grace period,
// leaving no vendor claimed, so that the first delivery after its restart
// is answered 200. Every vendor must end with exactly one email; the row
// says how long the stop took, what the delivery in flight got, and the
// time to the last email.
func scenarioMailShutdown(ctx context.Context, h *harness, row *Row) error {
	k, err := h.singleBroker(ctx)
	if err != nil {
		return err
	}
	box, err := newMailbox()
	if err != nil {
		return err
	}
	h.onClose(box.down)
	name := "s" + h.tag + "-sendmail"
	sendMail, err := h.newFunction(name, "sendmail",
		"KAFKA_BROKERS="+k.bootstrap(), "KAFKA_CLIENT_ID=faults-"+name, "KAFKA_REPLICATION_FACTOR=1",
		"MAIL_FROM=reportes@sopaipillas.example", "SMTP_HOST=127.0.0.1", "SMTP_PORT="+box.port(),
		"SMTP_TLS=none", "SMTP_TIMEOUT=5s", "MAIL_LEDGER_TOPIC=mail-sent-"+h.tag)
	if err != nil {
		return err
	}
	if err := sendMail.start(ctx); err != nil {
		return err
	}

	// Today's final vendor report, as dailySummary would publish it: one
	// order per vendor, all in one event.
	now := time.Now()
	day := events.DateOf(now, santiago)
	r := events.VendorReport{Fecha: day.String(), Vendedores: map[string]events.VendorOrders{}}
	var answer summaryAnswer
	answer.Summary.Ventas = ventas{}
	for i := range shutdownVendors {
		v := fmt.Sprintf("vendedor%04d@feria.example", i)
		n := int64(1 + i%7)
		r.Vendedores[v] = events.VendorOrders{NOrdenes: 1, NSopaipillas: n, NoContadas: []events.UncountedOrder{},
			Ordenes: []events.ListedOrder{{OrderID: int64(1 + i), Hora: now.In(santiago).Format(time.RFC3339), NumeroSopaipillas: n}}}
		answer.Summary.Ventas[v] = r.Vendedores[v].Sales()
	}
	_, end := day.Bounds(santiago)
	evs, err := events.NewVendorReportEvents(r, events.ReportMeta{Status: events.StatusFinal, CountedUntil: end, Computed: now})
	if err != nil {
		return err
	}
	if len(evs) != 1 {
		return fmt.Errorf("the vendor report is %d events, want 1", len(evs))
	}
	e := evs[0]
	answer.VendorReportEventIDs = []string{e.ID()}
	client, err := cloudevents.NewClientHTTP(cehttp.WithClient(http.Client{Timeout: time.Minute}))
	if err != nil {
		return err
	}
	src := &source{sink: sendMail.url("/"), settled: map[string]bool{}} // records the deliveries
	srcCtx, stopSource := context.WithCancel(ctx)
	srcDone := make(chan struct{})
	start := time.Now()
	go func() { defer close(srcDone); deliverUntilSettled(srcCtx, client, src, e) }()
	defer func() { stopSource(); <-srcDone }()

	// SIGKILL a quarter of the way through: the killed process's claims
	// hold their vendors until its lease runs out.
	if err := waitRecipients(ctx, box, shutdownVendors/4); err != nil {
		return err
	}
	killedPid := sendMail.cmd.Process.Pid
	sendMail.kill()
	killedAt := time.Now()
	atKill := box.recipients()
	orphans, err := heldBy(ctx, k.brokers, "mail-sent-"+h.tag, killedPid)
	if err != nil {
		return err
	}
	logf("sendMail SIGKILLed with %d of %d vendors emailed, %d vendors claimed and not mailed", atKill, shutdownVendors, len(orphans))
	if err := sendMail.start(ctx); err != nil {
		return err
	}

	// SIGTERM past three quarters, as Knative stops a pod it scales down.
	if err := waitRecipients(ctx, box, 3*shutdownVendors/4); err != nil {
		return err
	}
	termAt := time.Now()
	before := len(src.deliveries())
	pid := sendMail.cmd.Process.Pid
	_ = sendMail.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-sendMail.done:
	case <-time.After(30 * time.Second):
		sendMail.kill()
		row.fail("sendMail still running 30 s after SIGTERM; killed")
	}
	exited := time.Since(termAt)
	sendMail.cmd = nil
	_ = os.Remove(sendMail.pidPath)
	inFlight := "no answer"
	for _, d := range src.deliveries()[before:] {
		if d.status != 0 {
			inFlight = fmt.Sprintf("HTTP %d after %s", d.status, d.at.Sub(termAt).Round(10*time.Millisecond))
			break
		}
	}
	atTerm := box.recipients()
	logf("sendMail SIGTERMed with %d of %d vendors emailed: exited after %s, the delivery in flight got %s", atTerm, shutdownVendors, exited.Round(10*time.Millisecond), inFlight)
	if !strings.HasPrefix(inFlight, "HTTP 503") || exited > 10*time.Second {
		row.fail("the delivery in flight at SIGTERM got %s, want a 503; sendMail exited after %s", inFlight, exited.Round(10*time.Millisecond))
	}
	stuck, err := heldBy(ctx, k.brokers, "mail-sent-"+h.tag, pid)
	if err != nil {
		return err
	}
	left := len(stuck)
	if left > 0 {
		row.fail("the SIGTERMed sendMail left %d vendors claimed", left)
	}
	if err := sendMail.start(ctx); err != nil {
		return err
	}
	restartedAt := time.Now()

	deadline := time.Now().Add(2 * time.Minute)
	for !src.isSettled(e.ID()) && !src.deadLettered() {
		if time.Now().After(deadline) {
			row.fail("the vendor report was not settled within 2 minutes of the SIGKILL")
			break
		}
		if err := sleep(ctx, 50*time.Millisecond); err != nil {
			return err
		}
	}
	settled := time.Since(start)
	_ = sleep(ctx, time.Second) // any stray email
	emails := box.emails()
	var last, orphansMailed time.Time
	for _, m := range emails {
		if m.At.After(last) {
			last = m.At
		}
		if orphans[m.To] && m.At.After(orphansMailed) {
			orphansMailed = m.At
		}
	}
	takenOver := orphansMailed.Sub(killedAt)
	checkMail(row, emails, answer, src.deliveries(), settled, killedAt)
	var after []string
	for _, d := range src.deliveries() {
		if d.at.After(restartedAt) {
			after = append(after, statusName(d.status))
		}
	}
	row.note("SIGKILL at %d emailed: the %d vendors it held unmailed were all mailed %s after it; SIGTERM at %d emailed: exited after %s, the delivery in flight got %s, %d vendors left claimed, the deliveries after the restart %v; last email %s after the first delivery, %s after the restart",
		atKill, len(orphans), takenOver.Round(10*time.Millisecond), atTerm, exited.Round(10*time.Millisecond), inFlight, left, after,
		last.Sub(start).Round(10*time.Millisecond), last.Sub(restartedAt).Round(10*time.Millisecond))
	return nil
}

// heldBy reads sendMail's ledger topic whole, as plain JSON, and returns
// the vendors that claims of process pid (a claim id is
// host/pid/random/random) still hold: claimed, and neither settled,
// released nor ended by the claim's end record.
func heldBy(ctx context.Context, brokers []string, topic string, pid int) (map[string]bool, error) {
	cfg := sarama.NewConfig()
	cfg.Version = sarama.V4_0_0_0
	cfg.ClientID = "sopaipillas-faults-ledger-reader"
	client, err := sarama.NewClient(brokers, cfg)
	if err != nil {
		return nil, fmt.Errorf("ledger reader: %w", err)
	}
	defer client.Close()
	partitions, err := client.Partitions(topic)
	if err != nil {
		return nil, fmt.Errorf("ledger reader: partitions of %s: %w", topic, err)
	}
	consumer, err := sarama.NewConsumerFromClient(client)
	if err != nil {
		return nil, err
	}
	defer consumer.Close()
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	type rec struct{ To, State, Claim string }
	held := map[[2]string]bool{} // claim id, vendor
	ended := map[string]bool{}
	ours := fmt.Sprintf("/%d/", pid)
	for _, p := range partitions {
		oldest, err := client.GetOffset(topic, p, sarama.OffsetOldest)
		if err != nil {
			return nil, err
		}
		newest, err := client.GetOffset(topic, p, sarama.OffsetNewest)
		if err != nil {
			return nil, err
		}
		if oldest >= newest {
			continue
		}
		pc, err := consumer.ConsumePartition(topic, p, oldest)
		if err != nil {
			return nil, err
		}
		for done := false; !done; {
			select {
			case <-ctx.Done():
				pc.Close()
				return nil, fmt.Errorf("ledger reader: %s/%d: %w", topic, p, ctx.Err())
			case m := <-pc.Messages():
				var r rec
				if json.Unmarshal(m.Value, &r) == nil && strings.Contains(r.Claim, ours) {
					switch r.State {
					case "claim":
						held[[2]string{r.Claim, r.To}] = true
					case "end":
						ended[r.Claim] = true
					default:
						delete(held, [2]string{r.Claim, r.To})
					}
				}
				done = m.Offset+1 >= newest
			}
		}
		pc.Close()
	}
	left := map[string]bool{}
	for k := range held {
		if !ended[k[0]] {
			left[k[1]] = true
		}
	}
	return left, nil
}

// deliverUntilSettled POSTs e to src's sink as a KafkaSource does: again
// after a 5xx, no answer, 404, 408, 409 or 429, with waits from 200 ms
// doubling to 2 s, until a 2xx or another 4xx (dead-lettered); src records
// every attempt.
func deliverUntilSettled(ctx context.Context, client cloudevents.Client, src *source, e cloudevents.Event) {
	backoff := 200 * time.Millisecond
	for ctx.Err() == nil {
		result := client.Send(cloudevents.ContextWithTarget(cloudevents.WithEncodingBinary(ctx), src.sink), e)
		status := 0
		var r *cehttp.Result
		if cloudevents.ResultAs(result, &r) {
			status = r.StatusCode
		} else if cloudevents.IsACK(result) {
			status = http.StatusOK
		}
		if ctx.Err() != nil {
			return
		}
		src.attempted(e, status)
		switch {
		case status/100 == 2:
			return
		case status/100 == 4 && !slices.Contains([]int{404, 408, 409, 429}, status):
			src.deadLetter(ctx, e, fmt.Sprintf("HTTP %d", status))
			return
		}
		_ = sleep(ctx, backoff)
		backoff = min(2*backoff, 2*time.Second)
	}
}
