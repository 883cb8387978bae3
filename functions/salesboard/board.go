// Package salesboard is the salesBoard function: a live page for the owner
// with a day's sales per vendor, counted by the day read dailySummary
// counts with (package dayread) and pushed to the browser over
// Server-Sent Events whenever the order topic moves.
//
// It keeps no state of its own: today counted live (dayread.Live: read
// whole once, then only the records committed since) and a cache of the
// other days being looked at, all rebuilt from Kafka after a restart.
package salesboard

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/eapache/go-resiliency/retrier"

	"github.com/sopaipillas/sopaipillas/events"
	"github.com/sopaipillas/sopaipillas/functions/internal/dayread"
	"github.com/sopaipillas/sopaipillas/functions/internal/retry"
)

// Summarizer counts one day exactly as dailySummary does:
// (*dayread.Counter).Summarize.
type Summarizer interface {
	Summarize(ctx context.Context, day events.Date) (dayread.Result, error)
}

// Follower follows a day as the order topic grows:
// (*dayread.Counter).Follow. A Summarizer that is also a Follower makes
// the board count today once and then only the records committed since.
type Follower interface {
	Follow(ctx context.Context, day events.Date) (*dayread.Live, error)
}

// Ends tells where the order topic ends: the last stable offset of each
// partition, in partition order. When it moves, any day's numbers may have
// changed (a new order, a committed transaction); when it has not, none has.
type Ends interface {
	Ends(ctx context.Context) ([]int64, error)
}

// Options are salesBoard's settings.
type Options struct {
	Location *time.Location
	// Retention is how long the order topic keeps records: older days are
	// not offered.
	Retention time.Duration
	// Timeout bounds one question to Kafka: where the topic ends, or one
	// live update of today. Whole counts of a day run in the background,
	// unbounded (Board).
	Timeout time.Duration
	// Wait is how long a request waits for a whole count of its day to
	// end before it is answered that the day is being counted
	// (CountingError); DefaultWait when 0.
	Wait time.Duration
	// Backoff is the first wait before a failed whole count is tried
	// again; the waits double up to MaxBackoff.
	Backoff time.Duration
	// Token, when set, is the owner's key (BOARD_TOKEN).
	Token string
	Now   func() time.Time
	// Poll is how often the topic's ends are asked for.
	Poll time.Duration
	// MinInterval is the least time between two counts of a watched day
	// while orders keep arriving: updates are coalesced.
	MinInterval time.Duration
}

// Defaults of Options.Poll and Options.MinInterval: an order shows on the
// board within Poll + MinInterval + one update (a read of the records
// committed since the last one), well under the 2 s promised.
const (
	DefaultPoll        = 200 * time.Millisecond
	DefaultMinInterval = 500 * time.Millisecond
)

// DefaultWait is Options.Wait's default: a small topic (the tests', make
// dev's) is counted within it, and a request for it is never answered
// "counting".
const DefaultWait = 3 * time.Second

// DefaultBackoff is Options.Backoff's default, and MaxBackoff the longest
// wait between two tries of a whole count: a Kafka that comes back is
// read again within half a minute.
const (
	DefaultBackoff = time.Second
	MaxBackoff     = 30 * time.Second
)

// CountingError is a day's answer while it is counted whole (today's first
// count, a day other than today asked for): Leidos records of the order
// topic read so far, PorLeer left to read (dayread.Progress; 0 and 0
// before the read met a partition).
type CountingError struct {
	Day             events.Date
	Leidos, PorLeer int64
}

func (e *CountingError) Error() string {
	return fmt.Sprintf("the orders of %s are being counted (%d records of the order topic read, %d to read); retry", e.Day, e.Leidos, e.PorLeer)
}

// countJob is a whole count of a day running in the background. done is
// closed when it has ended: counted (the day's view is set), or the board
// closed.
type countJob struct {
	done     chan struct{}
	progress atomic.Pointer[dayread.Progress] // the current try's

	mu sync.Mutex
	// err is the last try's failure, until the next try begins; failed
	// is closed when a try fails (and replaced).
	err    error
	failed chan struct{}
}

// try records the start of a try, with its Progress.
func (j *countJob) try(p *dayread.Progress) {
	j.progress.Store(p)
	j.mu.Lock()
	defer j.mu.Unlock()
	j.err = nil
}

// fail records a try's failure and wakes who waits for it.
func (j *countJob) fail(err error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.err = err
	close(j.failed)
	j.failed = make(chan struct{})
}

// failure returns the last try's failure (nil while a try runs) and a
// channel closed when the next try fails.
func (j *countJob) failure() (error, <-chan struct{}) {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.err, j.failed
}

// View is one day as the board shows it and GET /api/days/{fecha} answers:
// dailySummary's numbers for the day, and totals and a ranking derived
// from them.
type View struct {
	Fecha string `json:"fecha"`
	// Summary is exactly the summary dailySummary publishes for the day.
	Summary    events.Summary `json:"summary"`
	Totales    Totals         `json:"totales"`
	Vendedores []VendorSales  `json:"vendedores"`
	// ReportStatus is "partial" for a day not over yet, "final" after, as
	// in dailySummary's answer; CountedUntil the instant it goes up to.
	ReportStatus   string    `json:"report_status"`
	CountedUntil   time.Time `json:"counted_until"`
	OrdersRead     int       `json:"orders_read"`
	SkippedRecords int       `json:"skipped_records"`
	ConflictsTotal int       `json:"conflicts_total"`
	// NoContadas are the first of the day's uncounted versions (the
	// summary's conflicts, at most 100 of conflicts_total), by vendor.
	NoContadas []Uncounted `json:"no_contadas"`
}

// Totals are a day's totals over every vendor.
type Totals struct {
	NOrdenes     int64 `json:"n_ordenes"`
	NSopaipillas int64 `json:"n_sopaipillas"`
	NVendedores  int   `json:"n_vendedores"`
}

// VendorSales is one vendor's line of the ranking.
type VendorSales struct {
	Vendedor string `json:"email_vendedor"`
	events.Sales
}

// NewView derives the board's view of a day from a count of it.
func NewView(day events.Date, res dayread.Result, meta events.ReportMeta) View {
	v := View{
		Fecha: day.String(), Summary: res.Summary, ReportStatus: meta.Status, CountedUntil: meta.CountedUntil,
		OrdersRead: res.OrdersRead, SkippedRecords: res.SkippedRecords, ConflictsTotal: res.ConflictsTotal,
		Vendedores: make([]VendorSales, 0, len(res.Summary.Ventas)), NoContadas: uncounted(res.Conflicts),
	}
	if v.Summary.Ventas == nil {
		v.Summary.Ventas = map[string]events.Sales{}
	}
	for vendor, s := range v.Summary.Ventas {
		v.Vendedores = append(v.Vendedores, VendorSales{Vendedor: vendor, Sales: s})
		v.Totales.NOrdenes += s.NOrdenes
		v.Totales.NSopaipillas += s.NSopaipillas
	}
	v.Totales.NVendedores = len(v.Vendedores)
	// Most sopaipillas first; ties by orders, then by address, so that the
	// order is stable between updates.
	slices.SortFunc(v.Vendedores, func(a, b VendorSales) int {
		if c := cmp.Compare(b.NSopaipillas, a.NSopaipillas); c != 0 {
			return c
		}
		if c := cmp.Compare(b.NOrdenes, a.NOrdenes); c != 0 {
			return c
		}
		return strings.Compare(a.Vendedor, b.Vendedor)
	})
	return v
}

// Board counts the days being looked at and tells their watchers when
// their numbers change.
//
// With a Follower, today is a dayread.Live: counted once from the whole
// topic, then updated with the records committed since, and kept up to
// date whether watched or not. Other days are counted whole on request
// and cached until a record that may change them arrives (dayread.Moved).
// Without one, every day is counted whole whenever the topic moves.
//
// A whole count reads the whole topic (26 s at 3 days of 10M orders on the bench,
// docs/sales-board.md): it runs in the background, one at a time (a count
// holds a summary's memory beside today's), unbounded by Timeout, tried
// again with backoff until it succeeds or Close; meanwhile the day
// answers CountingError.
type Board struct {
	sum    Summarizer
	follow Follower // nil: no live day
	ends   Ends
	opts   Options
	log    *slog.Logger
	// recount lets one whole count run at a time.
	recount chan struct{}
	// jobs is the context of the whole counts, ended by Close.
	jobs    context.Context
	endJobs context.CancelFunc
	running sync.WaitGroup

	// liveMu serializes live's reads; live is today, nil until counted or
	// after a read failed. liveMu is taken before mu, never after.
	liveMu sync.Mutex
	live   *dayread.Live

	// healthMu guards unreadable, why Run last could not tell where the
	// order topic ends (nil when it could), and healthChanged, closed and
	// replaced when that changes.
	healthMu      sync.Mutex
	unreadable    error
	healthChanged chan struct{}

	mu   sync.Mutex
	days map[events.Date]*dayState
	// epoch counts the live days begun: a day counted whole while another
	// live day was followed may have missed records.
	epoch uint64
}

// dayState is the cache of one day, guarded by Board.mu.
type dayState struct {
	view View
	// job is the day's whole count while it runs.
	job *countJob
	// mark is where the topic ended before the count that gave view
	// (markOf); "" while the day was never counted.
	mark    string
	counted time.Time
	watch   map[chan View]struct{}
	// With a live day, a day counted whole is of epoch, and of gen, the
	// number of live updates so far that read a record that may change it.
	whole         bool
	gen, wholeGen uint64
	wholeEpoch    uint64
}

// New returns a Board. Run keeps the watched days up to date.
func New(sum Summarizer, ends Ends, opts Options, log *slog.Logger) *Board {
	if opts.Poll <= 0 {
		opts.Poll = DefaultPoll
	}
	if opts.MinInterval <= 0 {
		opts.MinInterval = DefaultMinInterval
	}
	if opts.Wait <= 0 {
		opts.Wait = DefaultWait
	}
	if opts.Backoff <= 0 {
		opts.Backoff = DefaultBackoff
	}
	b := &Board{sum: sum, ends: ends, opts: opts, log: log, days: map[events.Date]*dayState{}, recount: make(chan struct{}, 1),
		healthChanged: make(chan struct{})}
	b.follow, _ = sum.(Follower)
	b.jobs, b.endJobs = context.WithCancel(context.Background())
	return b
}

// Unreadable returns why the order topic could not be read when Run last
// asked where it ends (nil when it could), and a channel closed when that
// changes.
func (b *Board) Unreadable() (error, <-chan struct{}) {
	b.healthMu.Lock()
	defer b.healthMu.Unlock()
	return b.unreadable, b.healthChanged
}

// setReadable records what Run found (err nil: the topic answered), and
// wakes Unreadable's watchers when it turns readable or unreadable.
func (b *Board) setReadable(err error) {
	b.healthMu.Lock()
	defer b.healthMu.Unlock()
	changed := (err == nil) != (b.unreadable == nil)
	b.unreadable = err
	if changed {
		close(b.healthChanged)
		b.healthChanged = make(chan struct{})
	}
}

// Close ends the whole counts running and waits for them.
func (b *Board) Close() {
	b.endJobs()
	b.running.Wait()
}

// markOf is a comparable form of the topic's ends.
func markOf(ends []int64) string {
	return fmt.Sprint(ends)
}

// Today is the business day of now.
func (b *Board) Today() events.Date {
	return events.DateOf(b.opts.Now(), b.opts.Location)
}

// Days are the days that can be shown, today first: those dailySummary
// would summarize, whose first instant the topic still keeps.
func (b *Board) Days() []events.Date {
	now := b.opts.Now()
	oldest := now.Add(-b.opts.Retention)
	var out []events.Date
	for d := b.Today(); ; d = d.AddDays(-1) {
		start, _ := d.Bounds(b.opts.Location)
		if start.Before(oldest) {
			return out
		}
		out = append(out, d)
	}
}

// Offered reports whether day is one of Days.
func (b *Board) Offered(day events.Date) bool {
	return slices.Contains(b.Days(), day)
}

func (b *Board) state(day events.Date) *dayState {
	b.mu.Lock()
	defer b.mu.Unlock()
	s, ok := b.days[day]
	if !ok {
		s = &dayState{watch: map[chan View]struct{}{}}
		b.days[day] = s
	}
	return s
}

// Get returns day's view as of at least the moment of the call: the cached
// one if the topic has not moved since it was counted, else a live update
// of today or a new count. A whole count runs in the background: Get waits
// for it up to Options.Wait, then answers *CountingError (wrapped with
// ctx's error when ctx ended first); while the count's last try failed
// (it is tried again after a backoff), that failure.
func (b *Board) Get(ctx context.Context, day events.Date) (View, error) {
	qctx, cancel := context.WithTimeout(ctx, b.opts.Timeout)
	ends, err := b.ends.Ends(qctx)
	cancel()
	if err != nil {
		return View{}, fmt.Errorf("where the order topic ends: %w", err)
	}
	wait := time.NewTimer(b.opts.Wait)
	defer wait.Stop()
	for {
		if err := b.jobs.Err(); err != nil {
			return View{}, fmt.Errorf("the board is closed: %w", err)
		}
		view, job, err := b.refresh(ctx, day, ends)
		if job == nil {
			return view, err
		}
		failure, failed := job.failure()
		if failure != nil {
			return View{}, fmt.Errorf("counting %s whole: %w", day, failure)
		}
		select {
		case <-job.done:
			// counted: the view is up to date unless the topic moved
			// during a count begun before ends
		case <-failed:
		case <-wait.C:
			return View{}, job.counting(day)
		case <-ctx.Done():
			return View{}, fmt.Errorf("%w: %w", ctx.Err(), job.counting(day))
		}
	}
}

// counting is the CountingError of j, a count of day.
func (j *countJob) counting(day events.Date) *CountingError {
	e := &CountingError{Day: day}
	if p := j.progress.Load(); p != nil {
		e.Leidos, e.PorLeer = p.Counts()
	}
	return e
}

// Counting returns how far the whole count of day has got, or the
// failure of its last try, when day is being counted whole.
func (b *Board) Counting(day events.Date) (c *CountingError, failure error, ok bool) {
	b.mu.Lock()
	s, ok := b.days[day]
	var job *countJob
	if ok {
		job = s.job
	}
	b.mu.Unlock()
	if job == nil {
		return nil, nil, false
	}
	if failure, _ := job.failure(); failure != nil {
		return nil, failure, true
	}
	return job.counting(day), nil, true
}

// refresh brings day's view up to date with the topic ending at ends (and
// does not claim a day is still going on that has ended), and tells its
// watchers about a new view. Today, with a Follower, is a live update,
// bounded by Timeout. A whole count is started in the background instead
// (or found running), and returned as a job to wait for.
func (b *Board) refresh(ctx context.Context, day events.Date, ends []int64) (View, *countJob, error) {
	if b.follow != nil && day == b.Today() {
		return b.refreshLive(ctx, day, ends)
	}
	s := b.state(day)
	now := b.opts.Now()
	mark := markOf(ends)
	b.mu.Lock()
	defer b.mu.Unlock()
	if s.job != nil {
		return View{}, s.job, nil
	}
	if !b.stale(day, s, mark, now) {
		return s.view, nil, nil
	}
	return View{}, b.begin(day, s, func(ctx context.Context) error {
		return b.countWhole(ctx, day, s, mark)
	}), nil
}

// begin starts count as day's whole count in the background: it is tried
// until it succeeds, waiting Backoff, then twice as long each time up to
// MaxBackoff, or until Close. b.mu is held.
func (b *Board) begin(day events.Date, s *dayState, count func(ctx context.Context) error) *countJob {
	j := &countJob{done: make(chan struct{}), failed: make(chan struct{})}
	s.job = j
	b.running.Add(1)
	go func() {
		defer b.running.Done()
		defer close(j.done)
		r := retrier.New(retrier.LimitedExponentialBackoff(8, b.opts.Backoff, MaxBackoff), nil).WithInfiniteRetry()
		err := retry.Run(b.jobs, r, func(ctx context.Context, tries int) error {
			p := &dayread.Progress{}
			j.try(p)
			err := count(dayread.WithProgress(ctx, p))
			if err != nil && ctx.Err() == nil {
				b.log.Warn("whole count failed; trying again", "fecha", day.String(), "tries_before", tries, "error", err)
				j.fail(err)
			}
			return err
		})
		if err != nil && b.jobs.Err() == nil {
			b.log.Error("whole count given up", "fecha", day.String(), "error", err)
		}
		b.mu.Lock()
		s.job = nil
		b.mu.Unlock()
	}()
	return j
}

// countWhole counts day (other than a live today) whole, as of mark (where
// the topic ended before it was asked for), and publishes its view.
func (b *Board) countWhole(ctx context.Context, day events.Date, s *dayState, mark string) error {
	select {
	case b.recount <- struct{}{}:
		defer func() { <-b.recount }()
	case <-ctx.Done():
		return ctx.Err()
	}
	// What the count is as of is taken once its turn has come, not when
	// it was asked for: a count queued behind today's first one would
	// otherwise carry the epoch that count ends, and be thrown away as
	// stale the moment it lands (counted twice).
	b.mu.Lock()
	gen, epoch := s.gen, b.epoch
	b.mu.Unlock()
	now := b.opts.Now()
	began := time.Now()
	res, err := b.sum.Summarize(ctx, day)
	if err != nil {
		return err
	}
	start, end := day.Bounds(b.opts.Location)
	view := NewView(day, res, events.NewReportMeta(start, end, now))
	b.log.Debug("day counted", "fecha", day.String(), "took_ms", time.Since(began).Milliseconds(), "orders_read", res.OrdersRead)
	b.mu.Lock()
	defer b.mu.Unlock()
	s.whole, s.wholeGen, s.wholeEpoch = true, gen, epoch
	b.publish(s, view, mark)
	return nil
}

// followWhole counts today whole as a live day and publishes its view.
func (b *Board) followWhole(ctx context.Context, day events.Date, s *dayState) error {
	select {
	case b.recount <- struct{}{}:
		defer func() { <-b.recount }()
	case <-ctx.Done():
		return ctx.Err()
	}
	began, now := time.Now(), b.opts.Now()
	live, err := b.follow.Follow(ctx, day)
	if err != nil {
		return err
	}
	b.log.Info("today counted from the whole order topic", "fecha", day.String(), "took_ms", time.Since(began).Milliseconds(), "orders_read", live.Result().OrdersRead)
	start, end := day.Bounds(b.opts.Location)
	view := NewView(day, live.Result(), events.NewReportMeta(start, end, now))
	b.liveMu.Lock()
	defer b.liveMu.Unlock()
	b.live = live
	b.mu.Lock()
	defer b.mu.Unlock()
	b.epoch++
	s.whole = false
	b.publish(s, view, markOf(live.Ends()))
	return nil
}

// publish makes view s's, counted where the topic ended at mark, and
// offers it to s's watchers. b.mu is held.
func (b *Board) publish(s *dayState, view View, mark string) {
	s.view, s.mark, s.counted = view, mark, time.Now()
	for ch := range s.watch {
		offer(ch, view)
	}
}

// refreshLive brings today's live count up to ends, or starts counting
// today whole when it is not followed yet, and tells the other days'
// states which of them the records read may have changed.
func (b *Board) refreshLive(ctx context.Context, day events.Date, ends []int64) (View, *countJob, error) {
	s := b.state(day)
	b.liveMu.Lock()
	defer b.liveMu.Unlock()
	b.mu.Lock()
	if job := s.job; job != nil {
		b.mu.Unlock()
		return View{}, job, nil
	}
	live := b.live
	if live == nil || live.Day() != day {
		b.live = nil // the old day's tables go before the new day's are built
		job := b.begin(day, s, func(ctx context.Context) error { return b.followWhole(ctx, day, s) })
		b.mu.Unlock()
		return View{}, job, nil
	}
	now := b.opts.Now()
	view, stale := s.view, b.stale(day, s, markOf(ends), now)
	b.mu.Unlock()
	if !stale {
		return view, nil, nil
	}
	ctx, cancel := context.WithTimeout(ctx, b.opts.Timeout)
	defer cancel()
	began := time.Now()
	moved, err := live.Update(ctx, ends)
	if err != nil {
		b.live = nil // counted again whole next time
		return View{}, nil, err
	}
	b.touch(day, moved)
	b.log.Debug("today updated", "fecha", day.String(), "took_ms", time.Since(began).Milliseconds(), "records", moved.Records)
	start, end := day.Bounds(b.opts.Location)
	view = NewView(day, live.Result(), events.NewReportMeta(start, end, now))
	b.mu.Lock()
	defer b.mu.Unlock()
	b.publish(s, view, markOf(live.Ends()))
	return view, nil, nil
}

// touch marks the days other than today that records read by a live
// update may have changed.
func (b *Board) touch(today events.Date, moved dayread.Moved) {
	if len(moved.Days) == 0 && !moved.Earlier {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	for day, s := range b.days {
		if day != today && (slices.Contains(moved.Days, day) || moved.Earlier && day.Before(today)) {
			s.gen++
		}
	}
}

// stale reports whether s, the state of day, needs a count, or says
// partial of a day that has ended. With a live day, a day other than it
// needs one when it was never counted whole, or a live update read a
// record that may change it since, or the live day began again; without,
// when it was counted before the topic reached mark. b.mu is held.
func (b *Board) stale(day events.Date, s *dayState, mark string, now time.Time) bool {
	_, end := day.Bounds(b.opts.Location)
	if s.view.ReportStatus == events.StatusPartial && !now.Before(end) {
		return true
	}
	if b.follow != nil && day != events.DateOf(now, b.opts.Location) {
		return !s.whole || s.wholeGen != s.gen || s.wholeEpoch != b.epoch
	}
	return s.mark != mark
}

// offer puts v in ch, replacing a view the watcher has not taken yet: a
// slow watcher gets the latest numbers, not every step.
func offer(ch chan View, v View) {
	select {
	case <-ch:
	default:
	}
	ch <- v
}

// Watch returns a channel that gets day's view each time it changes, and
// a function to stop watching. Run counts watched days as the topic moves.
func (b *Board) Watch(day events.Date) (<-chan View, func()) {
	s := b.state(day)
	ch := make(chan View, 1)
	b.mu.Lock()
	s.watch[ch] = struct{}{}
	b.mu.Unlock()
	return ch, func() {
		b.mu.Lock()
		delete(s.watch, ch)
		b.mu.Unlock()
	}
}

// Run polls where the order topic ends every Poll and counts again each
// watched day whose view is older, at most every MinInterval per day,
// until ctx is done. Days no longer offered are dropped from the cache.
// With a Follower, its first poll, at once, starts counting today whole.
// It waits for no whole count: those run in the background.
func (b *Board) Run(ctx context.Context) {
	tick := time.NewTicker(b.opts.Poll)
	defer tick.Stop()
	var failing bool
	for first := true; ; first = false {
		if !first {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
		pctx, cancel := context.WithTimeout(ctx, b.opts.Timeout)
		ends, err := b.ends.Ends(pctx)
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			if !failing {
				b.log.Warn("cannot tell where the order topic ends; the streams say so and keep the last numbers", "error", err)
			}
			failing = true
			b.setReadable(err)
			continue
		}
		if failing {
			b.log.Info("the order topic can be read again")
			failing = false
		}
		b.setReadable(nil)
		if b.follow != nil {
			b.state(b.Today()) // today is followed, watched or not
		}
		for _, day := range b.due(markOf(ends)) {
			if _, _, err := b.refresh(ctx, day, ends); err != nil && ctx.Err() == nil {
				b.log.Warn("count failed", "fecha", day.String(), "error", err)
			}
		}
	}
}

// due returns the watched days (and today, when followed live) whose view
// is stale and was not counted within MinInterval, and forgets the days
// that are neither offered nor watched.
func (b *Board) due(mark string) []events.Date {
	offered := b.Days()
	now, clock := time.Now(), b.opts.Now()
	today := events.DateOf(clock, b.opts.Location)
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []events.Date
	for day, s := range b.days {
		followed := len(s.watch) > 0 || b.follow != nil && day == today
		switch {
		case !followed && !slices.Contains(offered, day):
			delete(b.days, day)
		case followed && b.stale(day, s, mark, clock) && now.Sub(s.counted) >= b.opts.MinInterval:
			out = append(out, day)
		}
	}
	slices.SortFunc(out, func(x, y events.Date) int { return strings.Compare(y.ISO(), x.ISO()) })
	return out
}
