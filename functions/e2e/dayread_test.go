package e2e

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// dayWant is what a day's summary must say.
type dayWant struct {
	Ventas  map[string]oracleSales
	Skipped int
}

const (
	ana   = "ana@feria.example"
	beto  = "beto@feria.example"
	pedro = "pedro@example.com"
	cook  = "cocina@feria.example"
)

func ord(id int64, vendor string, n int) dayOrder {
	return dayOrder{ID: id, Vendor: vendor, Cook: cook, Count: n}
}

// TestDayRead writes records straight onto a CreateTime order topic, with
// chosen partitions and timestamps, and checks each summarizable day's
// summary against values worked out by hand from the day rules. The oracle
// must agree with the same values, which is what lets it judge generated
// sequences in TestDayReadDifferential.
func TestDayRead(t *testing.T) {
	cases := []struct {
		name       string
		partitions int32
		// write puts the case's records onto the topic, in this order.
		write func(ctx context.Context, r *dayRig) error
		// want is the summary of each day, by days from today (0, -1, -2);
		// a day left out must have no orders and no skipped records.
		want map[int]dayWant
	}{{
		name:       "a future-stamped record does not hide the later records of its partition",
		partitions: 3,
		write: func(ctx context.Context, r *dayRig) error {
			return r.write(ctx,
				binaryOrder(0, todayAt(0.2), ord(1, ana, 10)),
				poison(0, dayAt(1, 0, 30), 0), // "not a cloudevent", stamped tomorrow 00:30
				binaryOrder(0, todayAt(0.4), ord(2, beto, 20)),
				legacyOrder(0, todayAt(0.6), ord(3, ana, 5)),
				binaryOrder(0, dayAt(-1, 18, 0), ord(4, ana, 7)),
				binaryOrder(1, todayAt(0.5), ord(5, beto, 1)),
				poison(1, dayStart(0).Add(-time.Millisecond), 0), // yesterday 23:59:59.999
			)
		},
		want: map[int]dayWant{
			0:  {Ventas: map[string]oracleSales{ana: {15, 2}, beto: {21, 2}}},
			-1: {Ventas: map[string]oracleSales{ana: {7, 1}}, Skipped: 1},
		},
	}, {
		name:       "a record stamped earlier than the records before it counts in its own day, once",
		partitions: 2,
		write: func(ctx context.Context, r *dayRig) error {
			return r.write(ctx,
				binaryOrder(0, todayAt(0.3), ord(1, ana, 1)),
				binaryOrder(0, todayAt(0.6), ord(2, beto, 2)),
				binaryOrder(0, dayAt(-1, 12, 0), ord(3, pedro, 4)),
				poison(0, dayAt(-2, 8, 0), 0),
				binaryOrder(0, todayAt(0.1), ord(4, ana, 8)),
				legacyOrder(1, dayStart(-1).Add(-time.Millisecond), ord(5, beto, 16)),
			)
		},
		want: map[int]dayWant{
			0:  {Ventas: map[string]oracleSales{ana: {9, 2}, beto: {2, 1}}},
			-1: {Ventas: map[string]oracleSales{pedro: {4, 1}}},
			-2: {Ventas: map[string]oracleSales{beto: {16, 1}}, Skipped: 1},
		},
	}, {
		name:       "committed transactions count, aborted ones never, and a commit marker last in every partition does not stall the read",
		partitions: 3,
		write: func(ctx context.Context, r *dayRig) error {
			steps := []func() error{
				func() error {
					return r.writeTxn(ctx, true,
						binaryOrder(0, todayAt(0.2), ord(1, ana, 10)),
						binaryOrder(1, dayAt(-1, 9, 0), ord(2, beto, 20)))
				},
				func() error {
					return r.writeTxn(ctx, false,
						binaryOrder(0, todayAt(0.3), ord(50, ana, 100)),
						poison(2, todayAt(0.3), 0),
						legacyOrder(1, dayAt(-1, 10, 0), ord(51, beto, 200)))
				},
				// Order 50 was first written in the aborted transaction: the
				// committed record is its first version.
				func() error { return r.write(ctx, binaryOrder(2, todayAt(0.4), ord(50, pedro, 3))) },
				func() error { return r.writeTxn(ctx, false, binaryOrder(0, todayAt(0.5), ord(52, pedro, 300))) },
				func() error {
					return r.writeTxn(ctx, true,
						binaryOrder(0, todayAt(0.6), ord(3, ana, 1)),
						structuredOrder(1, todayAt(0.6), ord(4, beto, 2), "application/cloudevents+json"),
						legacyOrder(2, dayAt(-1, 11, 0), ord(5, pedro, 4)))
				},
			}
			for _, step := range steps {
				if err := step(); err != nil {
					return err
				}
			}
			return nil
		},
		want: map[int]dayWant{
			0:  {Ventas: map[string]oracleSales{ana: {11, 2}, beto: {2, 1}, pedro: {3, 1}}},
			-1: {Ventas: map[string]oracleSales{beto: {20, 1}, pedro: {4, 1}}},
		},
	}, {
		name:       "a vendor is the whole address lower-cased",
		partitions: 2,
		write: func(ctx context.Context, r *dayRig) error {
			return r.write(ctx,
				binaryOrder(0, todayAt(0.3), ord(1, "pedro@EXAMPLE.com", 10)),
				binaryOrder(1, todayAt(0.5), ord(2, "pedro@example.com", 5)),
				legacyOrder(0, dayAt(-1, 7, 0), ord(3, "Ana@Feria.Example", 2)),
				structuredOrder(1, dayAt(-1, 8, 0), ord(4, "ana@feria.example", 3), "application/json"),
			)
		},
		want: map[int]dayWant{
			0:  {Ventas: map[string]oracleSales{pedro: {15, 2}}},
			-1: {Ventas: map[string]oracleSales{ana: {5, 2}}},
		},
	}, {
		name:       "legacy plain-JSON orders and structured CloudEvents of any content-type are orders",
		partitions: 3,
		write: func(ctx context.Context, r *dayRig) error {
			if err := r.write(ctx,
				legacyOrder(0, todayAt(0.2), ord(1, ana, 1)),
				structuredOrder(1, todayAt(0.3), ord(2, ana, 2), "application/json"),
				structuredOrder(2, todayAt(0.4), ord(3, beto, 4), "application/cloudevents+json"),
				structuredOrder(0, dayAt(-1, 13, 0), ord(4, beto, 8), ""),
				legacyOrder(1, dayAt(-1, 14, 0), ord(5, pedro, 16)),
				structuredEvent(2, dayAt(-1, 15, 0), ord(6, pedro, 32), "application/json", "cl.sopaipillas.other.v1"),
			); err != nil {
				return err
			}
			return r.postOrder(ord(7, "Pedro@Example.com", 64))
		},
		want: map[int]dayWant{
			0:  {Ventas: map[string]oracleSales{ana: {3, 2}, beto: {4, 1}, pedro: {64, 1}}},
			-1: {Ventas: map[string]oracleSales{beto: {8, 1}, pedro: {16, 1}}, Skipped: 1},
		},
	}, {
		name:       "the first version in a partition stands; across partitions the earliest day, then the lowest partition",
		partitions: 3,
		write: func(ctx context.Context, r *dayRig) error {
			return r.write(ctx,
				binaryOrder(1, todayAt(0.5), ord(10, ana, 1)),
				binaryOrder(0, todayAt(0.6), ord(10, beto, 2)), // same day: partition 0 wins
				binaryOrder(0, todayAt(0.2), ord(11, ana, 3)),
				binaryOrder(2, dayAt(-1, 10, 0), ord(11, beto, 4)), // earlier day wins
				binaryOrder(0, dayAt(-1, 20, 0), ord(12, ana, 5)),
				binaryOrder(0, todayAt(0.3), ord(12, ana, 5)),            // a retry
				binaryOrder(0, dayAt(-2, 8, 0), ord(12, beto, 50)),       // a later, conflicting version
				binaryOrder(2, todayAt(0.4), ord(13, pedro, 6)),          //
				binaryOrder(2, dayAt(-1, 9, 0), ord(13, pedro, 6)),       // a retry stamped earlier: still not first
				structuredOrder(1, dayAt(-2, 9, 0), ord(13, ana, 7), ""), // but another partition's earlier day wins
			)
		},
		want: map[int]dayWant{
			0:  {Ventas: map[string]oracleSales{beto: {2, 1}}},
			-1: {Ventas: map[string]oracleSales{beto: {4, 1}, ana: {5, 1}}},
			-2: {Ventas: map[string]oracleSales{ana: {7, 1}}},
		},
	}}
	for name, addrs := range brokers(t) {
		t.Run(name, func(t *testing.T) {
			for _, tc := range cases {
				t.Run(tc.name, func(t *testing.T) {
					r := newDayRig(t, addrs, tc.partitions, dayRigTimeout)
					defer r.Close()
					ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
					defer cancel()
					if err := tc.write(ctx, r); err != nil {
						t.Fatal(err)
					}
					if err := r.settle(ctx); err != nil {
						t.Fatal(err)
					}
					recs, err := oracleRead(ctx, addrs, r.topic)
					if err != nil {
						t.Fatal(err)
					}
					judged := oracleJudge(recs)
					for _, off := range []int{0, -1, -2} {
						want := tc.want[off]
						od := judged.day(oracleDayKey(dayStart(off)))
						if diff := cmp.Diff(want, dayWant{od.Ventas, od.Skipped}, cmpopts.EquateEmpty()); diff != "" {
							t.Errorf("the oracle's day %d (-want +got):\n%s", off, diff)
						}
						checkSummary(t, r, off, want)
					}
					if status, _, body := r.summarize(1); status != http.StatusUnprocessableEntity {
						t.Errorf("summary of tomorrow: status %d, want 422: %s", status, body)
					}
				})
			}
		})
	}
}

// checkSummary asks for the day `off` days from today and compares it with
// want. It returns whether they agree.
func checkSummary(t *testing.T, r *dayRig, off int, want dayWant) bool {
	t.Helper()
	status, got, body := r.summarize(off)
	fecha := dayStart(off).Format("02/01/2006")
	if status != http.StatusOK {
		t.Errorf("summary of %s: status %d, want 200: %s", fecha, status, body)
		return false
	}
	ok := true
	if got.Summary.Fecha != fecha {
		t.Errorf("summary of %s: fecha %q", fecha, got.Summary.Fecha)
		ok = false
	}
	if diff := cmp.Diff(want, dayWant{got.Summary.Ventas, got.SkippedRecords}, cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("summary of %s (-want +got):\n%s", fecha, diff)
		ok = false
	}
	sum := 0
	for _, n := range got.SkippedRecordsByReason {
		sum += n
	}
	if sum != got.SkippedRecords {
		t.Errorf("summary of %s: skipped_records_by_reason %v sums to %d, skipped_records is %d", fecha, got.SkippedRecordsByReason, sum, got.SkippedRecords)
		ok = false
	}
	return ok
}
