package dayread

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sopaipillas/sopaipillas/events"
	"github.com/sopaipillas/sopaipillas/functions/internal/kafka"
)

// RangeLog is an OrderLog that can also read part of each partition, as a
// Live day needs.
type RangeLog interface {
	OrderLog
	// ScanFrom is Scan of the committed records of each partition p with
	// offsets in [from[p], to[p]): from nil (or short) starts at the
	// oldest record kept, to nil ends at the last stable offset as of the
	// call. It returns the ends it read up to, in partition order. from
	// and to (times) size the tally, as in Scan, when from is nil.
	ScanFrom(ctx context.Context, start, end time.Time, from, to []int64, visitor func(partition int32, expect Expect) func(Record)) ([]int64, error)
}

// ScanFrom implements RangeLog with kafka.Reader.ReadFrom.
func (l KafkaLog) ScanFrom(ctx context.Context, start, end time.Time, from, to []int64, visitor func(partition int32, expect Expect) func(Record)) ([]int64, error) {
	rd, release, err := l.reader()
	if err != nil {
		return nil, err
	}
	defer release()
	var dayStart, dayEnd []int64
	if from == nil { // a whole read: size the tally as Scan does
		var err1, err2 error
		dayStart, err1 = rd.OffsetsAfter(ctx, l.Topic, start)
		dayEnd, err2 = rd.OffsetsAfter(ctx, l.Topic, end)
		if err1 != nil || err2 != nil {
			dayStart, dayEnd = nil, nil
		}
	}
	progress := ProgressFrom(ctx)
	return rd.ReadFrom(ctx, l.Topic, from, to, func(r kafka.Range) func(*kgo.Record) error {
		visit := visitor(r.Partition, estimate(r, dayStart, dayEnd))
		if visit == nil {
			return nil
		}
		count := progress.partition(r.End - r.Start)
		return func(m *kgo.Record) error {
			count()
			visit(recordOf(ctx, m))
			return nil
		}
	})
}

// Live is one day counted once from the whole order topic and then kept up
// to date with the records committed since: the sales board's today. Each
// partition's tally is the one Summarize makes (partitionTally), fed the
// same records in the same order, so its Result is what Summarize would
// answer at the same ends; an Update costs the new records, not the topic.
// Orders in several partitions are settled as Summarize settles them
// (resolve), from their versions, kept as they come; an order_id that
// becomes shared has its partitions read again, once.
//
// Memory is Summarize's for the day (README "Sizing dailySummary"), held
// for as long as the day is followed, plus the versions of shared orders.
// A Live is not safe for concurrent use.
type Live struct {
	log        RangeLog
	loc        *time.Location
	day        events.Date
	start, end time.Time
	parts      []*partitionTally // by partition
	at         []int64           // where the next read starts, by partition
	shared     *sharedOrders
	versions   map[int64]map[int32][]version
	res        Result
	broken     error
	// lists are the vendors' listings (orders.go): the board uses them
	// only to say what counted instead of an uncounted version.
	lists *vendorLists
}

// Moved is what an Update read.
type Moved struct {
	// Records counts the records read (committed data records).
	Records int
	// Ends is where the Live is now: the ends of the read, by partition.
	Ends []int64
	// Days are the other days some record read is stamped in: their
	// numbers may have changed.
	Days []events.Date
	// Earlier says a record read is of an order first written before the
	// day (a late retry, another version, a copy in another partition):
	// the days before it may have changed (their conflicts, or which day
	// the order counts in).
	Earlier bool
}

// ErrNotRangeLog is Follow's error for a Counter whose log cannot be read
// from an offset.
var ErrNotRangeLog = errors.New("the order log cannot be read from an offset")

// Follow counts day from the whole order topic and returns it as a Live
// day, to be kept up to date with Update.
func (c *Counter) Follow(ctx context.Context, day events.Date) (*Live, error) {
	log, ok := c.log.(RangeLog)
	if !ok {
		return nil, ErrNotRangeLog
	}
	start, end := day.Bounds(c.loc)
	l := &Live{log: log, loc: c.loc, day: day, start: start, end: end, lists: newVendorLists()}
	ends, err := log.ScanFrom(ctx, start, end, nil, nil, func(p int32, expect Expect) func(Record) {
		// The day goes on: size its table for a whole day, about half of
		// what the two days before it hold (the topic keeps three), and a
		// quarter more, so that it does not double (holding both tables
		// at once) as the day's orders come.
		expect.Day = max(expect.Day, expect.Before/2) * 5 / 4
		return l.tally(p, expect).add
	})
	if err != nil {
		return nil, err
	}
	l.grow(len(ends))
	l.at = ends
	l.versions = map[int64]map[int32][]version{}
	if shared := findShared(l.parts); shared != nil {
		l.shared = &sharedOrders{ids: map[int64]struct{}{}, holders: map[int32]bool{}}
		if err := l.share(ctx, shared); err != nil {
			return nil, err
		}
	}
	if err := l.result(); err != nil {
		return nil, err
	}
	return l, nil
}

// tally returns partition p's tally, adding it (and any before it) when the
// read meets it first.
func (l *Live) tally(p int32, expect Expect) *partitionTally {
	for len(l.parts) <= int(p) {
		l.parts = append(l.parts, nil)
	}
	if l.parts[p] == nil {
		l.parts[p] = newPartitionTally(p, l.start, l.end, expect)
		l.parts[p].orders = newPartitionOrders(l.lists)
	}
	return l.parts[p]
}

// grow makes room for n partitions, each with a tally.
func (l *Live) grow(n int) {
	for p := range max(n, len(l.parts)) {
		l.tally(int32(p), Expect{})
	}
	for len(l.at) < n {
		l.at = append(l.at, 0)
	}
}

// Day is the day counted.
func (l *Live) Day() events.Date { return l.day }

// Ends is where the count has read up to: the ends of the last read, by
// partition.
func (l *Live) Ends() []int64 { return slices.Clone(l.at) }

// Result is the day as counted up to Ends: what Summarize answers when the
// topic ends there.
func (l *Live) Result() Result { return l.res }

// partUpdate is what one partition's part of an Update saw.
type partUpdate struct {
	ids      []int64 // valid order records' ids
	firsts   []int64 // ids whose first record in the partition came now
	versions []idVersion
	days     map[events.Date]struct{}
	records  int
}

type idVersion struct {
	id int64
	v  version
}

// Update reads the records committed since the last read, up to to (an
// end Ends gave; nil: the last stable offset now), and counts them. After
// an error the Live is broken: every later Update fails, and the day must
// be followed again.
func (l *Live) Update(ctx context.Context, to []int64) (Moved, error) {
	if l.broken != nil {
		return Moved{}, l.broken
	}
	if to != nil {
		// An end listed before the last read may be behind it: never
		// read a record twice.
		to = slices.Clone(to)
		for p := range min(len(to), len(l.at)) {
			to[p] = max(to[p], l.at[p])
		}
	}
	updates := map[int32]*partUpdate{}
	ends, err := l.log.ScanFrom(ctx, l.start, l.end, l.at, to, func(p int32, _ Expect) func(Record) {
		t := l.tally(p, Expect{})
		u := &partUpdate{days: map[events.Date]struct{}{}}
		updates[p] = u
		t.seen = func(id int64, r Record) {
			u.ids = append(u.ids, id)
			if !t.inDay.has(id) && !t.before.has(id) && !t.after.has(id) {
				u.firsts = append(u.firsts, id)
			}
			if l.shared == nil {
				return
			}
			if _, ok := l.shared.ids[id]; ok {
				if order, eventID, hash, ok := r.version(); ok {
					u.versions = append(u.versions, idVersion{id, version{offset: r.Offset, at: r.Timestamp.UnixMilli(), hash: hash, order: order, event: eventID}})
				}
			}
		}
		return func(r Record) {
			u.records++
			if r.Timestamp.Before(l.start) || !r.Timestamp.Before(l.end) {
				u.days[events.DateOf(r.Timestamp, l.loc)] = struct{}{}
			}
			t.add(r)
		}
	})
	for _, t := range l.parts {
		t.seen = nil
	}
	if err != nil {
		// Some partitions may have been counted further than others.
		l.broken = fmt.Errorf("the live count of %s stopped halfway: %w", l.day, err)
		return Moved{}, err
	}
	l.grow(len(ends))
	l.at = ends
	mv := Moved{Ends: slices.Clone(ends)}
	days := map[events.Date]struct{}{}
	fresh := &sharedOrders{ids: map[int64]struct{}{}, holders: map[int32]bool{}}
	for p, u := range updates {
		mv.Records += u.records
		maps.Copy(days, u.days)
		for _, iv := range u.versions {
			if l.versions[iv.id] == nil {
				l.versions[iv.id] = map[int32][]version{}
			}
			l.versions[iv.id][p] = append(l.versions[iv.id][p], iv.v)
		}
		for _, id := range u.firsts {
			l.findShared(id, fresh)
		}
		for _, id := range u.ids {
			if mv.Earlier {
				break
			}
			for _, q := range l.parts {
				if q.before.has(id) {
					mv.Earlier = true
					break
				}
			}
		}
	}
	mv.Days = slices.SortedFunc(maps.Keys(days), func(a, b events.Date) int { return strings.Compare(a.ISO(), b.ISO()) })
	if len(fresh.ids) > 0 {
		if l.shared == nil {
			l.shared = &sharedOrders{ids: map[int64]struct{}{}, holders: map[int32]bool{}}
		}
		if err := l.share(ctx, fresh); err != nil {
			l.broken = fmt.Errorf("the live count of %s: %w", l.day, err)
			return Moved{}, err
		}
	}
	if err := l.result(); err != nil {
		l.broken = fmt.Errorf("the live count of %s: %w", l.day, err)
		return Moved{}, err
	}
	return mv, nil
}

// findShared adds id to fresh if it is, now, in several partitions and a
// version of it is of the day (as sharedIDs and merge decide for
// Summarize), and not known to be shared yet.
func (l *Live) findShared(id int64, fresh *sharedOrders) {
	if l.shared != nil {
		if _, ok := l.shared.ids[id]; ok {
			return
		}
	}
	var holders []int32
	inDay := false
	for _, t := range l.parts {
		switch {
		case t.inDay.has(id):
			inDay = true
		case t.before.has(id), t.after.has(id):
		default:
			continue
		}
		holders = append(holders, t.partition)
	}
	if len(holders) < 2 || !inDay {
		return
	}
	fresh.ids[id] = struct{}{}
	for _, p := range holders {
		fresh.holders[p] = true
	}
}

// share reads every version of the orders in fresh, newly found in
// several partitions, from the partitions holding them up to where the
// count is, and follows them from now on.
func (l *Live) share(ctx context.Context, fresh *sharedOrders) error {
	visitor, found := versionReader(fresh)
	if _, err := l.log.ScanFrom(ctx, l.start, l.end, nil, l.at, visitor); err != nil {
		return err
	}
	for id := range fresh.ids {
		l.shared.ids[id] = struct{}{}
		l.versions[id] = found[id]
	}
	maps.Copy(l.shared.holders, fresh.holders)
	return nil
}

// result sums the partitions up again and settles the shared orders. It
// leaves Vendors out: the board does not show the vendor report.
func (l *Live) result() error {
	for _, p := range l.parts {
		p.flushOrders()
	}
	res := sumUp(l.day, l.parts)
	if l.shared == nil {
		if len(res.Conflicts) > maxConflictsReported {
			res.Conflicts = res.Conflicts[:maxConflictsReported]
		}
	} else if err := resolve(&res, l.start.UnixMilli(), l.end.UnixMilli(), l.shared, l.versions, l.lists); err != nil {
		return err
	}
	l.lists.fillCounted(res.Conflicts)
	l.res = res
	return nil
}
