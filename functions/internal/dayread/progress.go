package dayread

import (
	"context"
	"sync/atomic"
)

// Progress is how far a read of the order topic has got: records read so
// far and records it has to read in all, summed over partitions as each
// is met. KafkaLog keeps the Progress a context carries (WithProgress) up
// to date, so that a long whole count can tell where it is (the sales
// board's "contando"). Safe for concurrent use; the zero value is ready.
type Progress struct {
	read, total atomic.Int64
}

// Counts returns the records read so far and those left to read (0 once
// read, or while no partition was met yet).
func (p *Progress) Counts() (read, left int64) {
	read, total := p.read.Load(), p.total.Load()
	return read, max(0, total-read)
}

type progressKey struct{}

// WithProgress returns ctx carrying p: reads of the order topic made with
// it add to p.
func WithProgress(ctx context.Context, p *Progress) context.Context {
	return context.WithValue(ctx, progressKey{}, p)
}

// ProgressFrom returns the Progress ctx carries, or nil.
func ProgressFrom(ctx context.Context) *Progress {
	p, _ := ctx.Value(progressKey{}).(*Progress)
	return p
}

// progressBatch is how many records a partition reads between two
// updates of a Progress: one shared counter per record would be fought
// over by the partitions read at once.
const progressBatch = 4096

// Add adds read records read and toRead records to read (a partition
// met) to p.
func (p *Progress) Add(read, toRead int64) {
	p.read.Add(read)
	p.total.Add(toRead)
}

// partition counts a partition of n records to read and returns a
// function to call for each record it reads, which adds to p in batches.
// p may be nil.
func (p *Progress) partition(n int64) func() {
	if p == nil {
		return func() {}
	}
	p.Add(0, n)
	var read int64
	return func() {
		if read++; read == progressBatch {
			p.Add(read, 0)
			read = 0
		}
	}
}
