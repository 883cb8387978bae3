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
	"time"

	"github.com/sopaipillas/sopaipillas/events"
	"github.com/sopaipillas/sopaipillas/functions/internal/dayread"
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
	// Timeout bounds one count of a day.
	Timeout time.Duration
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
// (one at a time: a count holds a summary's memory beside today's) and
// cached until a record that may change them arrives (dayread.Moved).
// Without one, every day is counted whole whenever the topic moves.
type Board struct {
	sum    Summarizer
	follow Follower // nil: no live day
	ends   Ends
	opts   Options
	log    *slog.Logger
	// recount lets one whole count of a day other than today run at a time.
	recount chan struct{}

	// liveMu serializes live's reads; live is today, nil until counted or
	// after a read failed.
	liveMu sync.Mutex
	live   *dayread.Live

	mu   sync.Mutex
	days map[events.Date]*dayState
	// epoch counts the live days begun: a day counted whole while another
	// live day was followed may have missed records.
	epoch uint64
}

// dayState is the cache of one day. count serializes its counts; the other
// fields are guarded by Board.mu.
type dayState struct {
	count sync.Mutex
	view  View
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
	b := &Board{sum: sum, ends: ends, opts: opts, log: log, days: map[events.Date]*dayState{}, recount: make(chan struct{}, 1)}
	b.follow, _ = sum.(Follower)
	return b
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
// one if the topic has not moved since it was counted, else a new count.
func (b *Board) Get(ctx context.Context, day events.Date) (View, error) {
	ends, err := b.ends.Ends(ctx)
	if err != nil {
		return View{}, fmt.Errorf("where the order topic ends: %w", err)
	}
	return b.refresh(ctx, day, ends)
}

// refresh counts day again unless its view is up to date with the topic
// ending at ends (and does not claim a day is still going on that has
// ended), and tells its watchers about a new view. Today, with a
// Follower, is a live update.
func (b *Board) refresh(ctx context.Context, day events.Date, ends []int64) (View, error) {
	if b.follow != nil && day == b.Today() {
		return b.refreshLive(ctx, day, ends)
	}
	s := b.state(day)
	s.count.Lock()
	defer s.count.Unlock()
	now := b.opts.Now()
	start, end := day.Bounds(b.opts.Location)
	mark := markOf(ends)
	b.mu.Lock()
	view, stale := s.view, b.stale(day, s, mark, now)
	gen, epoch := s.gen, b.epoch
	b.mu.Unlock()
	if !stale {
		return view, nil
	}
	ctx, cancel := context.WithTimeout(ctx, b.opts.Timeout)
	defer cancel()
	select {
	case b.recount <- struct{}{}:
		defer func() { <-b.recount }()
	case <-ctx.Done():
		return View{}, ctx.Err()
	}
	began := time.Now()
	res, err := b.sum.Summarize(ctx, day)
	if err != nil {
		return View{}, err
	}
	view = NewView(day, res, events.NewReportMeta(start, end, now))
	b.log.Debug("day counted", "fecha", day.String(), "took_ms", time.Since(began).Milliseconds(), "orders_read", res.OrdersRead)
	b.mu.Lock()
	s.view, s.mark, s.counted = view, mark, time.Now()
	s.whole, s.wholeGen, s.wholeEpoch = true, gen, epoch
	for ch := range s.watch {
		offer(ch, view)
	}
	b.mu.Unlock()
	return view, nil
}

// refreshLive brings today's live count up to ends (counting today whole
// first, when it is not followed yet) and tells the other days' states
// which of them the records read may have changed.
func (b *Board) refreshLive(ctx context.Context, day events.Date, ends []int64) (View, error) {
	b.liveMu.Lock()
	defer b.liveMu.Unlock()
	s := b.state(day)
	now := b.opts.Now()
	start, end := day.Bounds(b.opts.Location)
	b.mu.Lock()
	view, stale := s.view, b.stale(day, s, markOf(ends), now)
	b.mu.Unlock()
	if !stale && b.live != nil && b.live.Day() == day {
		return view, nil
	}
	ctx, cancel := context.WithTimeout(ctx, b.opts.Timeout)
	defer cancel()
	began := time.Now()
	live := b.live
	if live == nil || live.Day() != day {
		b.live = nil // the old day's tables go before the new day's are built
		var err error
		if live, err = b.follow.Follow(ctx, day); err != nil {
			return View{}, err
		}
		b.live = live
		b.mu.Lock()
		b.epoch++
		b.mu.Unlock()
		b.log.Info("today counted from the whole order topic", "fecha", day.String(), "took_ms", time.Since(began).Milliseconds(), "orders_read", live.Result().OrdersRead)
	} else {
		moved, err := live.Update(ctx, ends)
		if err != nil {
			b.live = nil // counted again whole next time
			return View{}, err
		}
		b.touch(day, moved)
		b.log.Debug("today updated", "fecha", day.String(), "took_ms", time.Since(began).Milliseconds(), "records", moved.Records)
	}
	view = NewView(day, live.Result(), events.NewReportMeta(start, end, now))
	b.mu.Lock()
	s.view, s.mark, s.counted = view, markOf(live.Ends()), time.Now()
	s.whole = false
	for ch := range s.watch {
		offer(ch, view)
	}
	b.mu.Unlock()
	return view, nil
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
func (b *Board) Run(ctx context.Context) {
	tick := time.NewTicker(b.opts.Poll)
	defer tick.Stop()
	var failing bool
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		pctx, cancel := context.WithTimeout(ctx, b.opts.Timeout)
		ends, err := b.ends.Ends(pctx)
		cancel()
		if err != nil {
			if !failing && ctx.Err() == nil {
				b.log.Warn("cannot tell where the order topic ends; the board shows the last numbers it has", "error", err)
			}
			failing = true
			continue
		}
		if failing {
			b.log.Info("the order topic can be read again")
			failing = false
		}
		if b.follow != nil {
			b.state(b.Today()) // today is followed, watched or not
		}
		for _, day := range b.due(markOf(ends)) {
			if _, err := b.refresh(ctx, day, ends); err != nil && ctx.Err() == nil {
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
