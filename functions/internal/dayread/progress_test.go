package dayread

import (
	"context"
	"testing"
)

// TestProgress: a read's records are counted in batches of progressBatch,
// against the records met; left is never below 0.
func TestProgress(t *testing.T) {
	tests := []struct {
		name    string
		toRead  int64 // records of the partitions met
		records int   // records read
		read    int64 // Counts' read
		left    int64 // Counts' left
	}{
		{name: "nothing met", read: 0, left: 0},
		{name: "met, less than a batch read", toRead: 10_000, records: progressBatch - 1, read: 0, left: 10_000},
		{name: "two batches and some", toRead: 10_000, records: 2*progressBatch + 5, read: 2 * progressBatch, left: 10_000 - 2*progressBatch},
		{name: "more read than met (a second pass)", toRead: progressBatch, records: 2 * progressBatch, read: 2 * progressBatch, left: 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := &Progress{}
			ctx := WithProgress(context.Background(), p)
			got := ProgressFrom(ctx)
			count := got.partition(tc.toRead)
			for range tc.records {
				count()
			}
			if read, left := p.Counts(); read != tc.read || left != tc.left {
				t.Errorf("Counts() = %d, %d; want %d, %d", read, left, tc.read, tc.left)
			}
		})
	}
	var none *Progress
	none.partition(5)() // a context without a Progress: nothing to count, no panic
	if ProgressFrom(context.Background()) != nil {
		t.Error("ProgressFrom of a bare context is not nil")
	}
}
