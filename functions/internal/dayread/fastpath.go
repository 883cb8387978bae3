package dayread

import (
	"bytes"
	"hash/maphash"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sopaipillas/sopaipillas/events"
)

// fastOrder is an order record read without the CloudEvents binding. Only
// the exact shape newOrder writes qualifies: the binding's headers, each
// once, in lower case, with the values newOrder gives them, and the order's
// canonical JSON (keys sorted, no spaces, plain ASCII strings, integers in
// range). For such a record the binding and events.OrderFromEvent would
// accept it and give the same order, and json.Marshal of that order gives
// back the value byte for byte, so the hash of its body is the hash of
// the value (bodyHash, taken by the tally only where it compares bodies).
// Whether the two addresses are valid is left to the tally, which checks
// each new address once with events.CheckEmail.
type fastOrder struct {
	ok           bool
	id, n        int64
	vendor, cook []byte
	eventID      []byte
	value        []byte
}

// Header values of an order record (kafka_sarama binary mode).
var (
	vJSON        = []byte("application/json")
	vSpecVersion = []byte("1.0")
	vSource      = []byte(events.SourceNewOrder)
	vType        = []byte(events.TypeOrderCreated)
)

// decode fills o from an order record of exactly newOrder's shape and
// reports whether it did; false sends the record through the binding.
func (o *fastOrder) decode(headers []kgo.RecordHeader, value []byte) bool {
	// The binding's eight, and the distributed-tracing extension newOrder
	// adds when it has a trace context.
	if len(headers) < 8 || len(headers) > 10 {
		return false
	}
	var seen uint16
	for _, h := range headers {
		var bit uint16
		switch h.Key {
		case "content-type":
			bit = 1 << 0
			if !bytes.Equal(h.Value, vJSON) {
				return false
			}
		case "ce_specversion":
			bit = 1 << 1
			if !bytes.Equal(h.Value, vSpecVersion) {
				return false
			}
		case "ce_id":
			bit = 1 << 2
			// The binding trims the id and refuses an empty one.
			if len(h.Value) == 0 || len(bytes.TrimSpace(h.Value)) != len(h.Value) {
				return false
			}
			o.eventID = h.Value
		case "ce_source":
			bit = 1 << 3
			if !bytes.Equal(h.Value, vSource) {
				return false
			}
		case "ce_type":
			bit = 1 << 4
			if !bytes.Equal(h.Value, vType) {
				return false
			}
		case "ce_time":
			bit = 1 << 5
			if !isRFC3339UTC(h.Value) {
				return false
			}
		case "ce_subject":
			bit = 1 << 6 // any string: the binding only trims it
		case "ce_partitionkey":
			bit = 1 << 7 // any string extension
		case "ce_traceparent":
			bit = 1 << 8 // any string extension
		case "ce_tracestate":
			bit = 1 << 9
		default:
			return false
		}
		if seen&bit != 0 {
			return false
		}
		seen |= bit
	}
	if seen&0xff != 0xff {
		return false
	}
	if !o.decodeValue(value) {
		return false
	}
	o.value = value
	o.ok = true
	return true
}

// decodeValue parses the canonical order JSON:
// {"email_cocinero":"…","email_vendedor":"…","numero_sopaipillas":N,"order_id":N}
func (o *fastOrder) decodeValue(v []byte) bool {
	var ok bool
	if v, ok = bytes.CutPrefix(v, []byte(`{"email_cocinero":"`)); !ok {
		return false
	}
	if o.cook, v, ok = plainString(v); !ok {
		return false
	}
	if v, ok = bytes.CutPrefix(v, []byte(`,"email_vendedor":"`)); !ok {
		return false
	}
	if o.vendor, v, ok = plainString(v); !ok {
		return false
	}

	if v, ok = bytes.CutPrefix(v, []byte(`,"numero_sopaipillas":`)); !ok {
		return false
	}
	if o.n, v, ok = plainInt(v, events.MaxSopaipillas); !ok {
		return false
	}
	if v, ok = bytes.CutPrefix(v, []byte(`,"order_id":`)); !ok {
		return false
	}
	if o.id, v, ok = plainInt(v, events.MaxOrderID); !ok {
		return false
	}
	return len(v) == 1 && v[0] == '}'
}

// plainString reads a JSON string body up to its closing quote and the
// rest after it. Only printable ASCII that json.Marshal leaves as it is
// qualifies: no escapes, no control characters, no <, > or &; and no
// upper case, as only canonical addresses (events.CanonicalEmail) hash as
// the slow path's re-encoding does.
func plainString(v []byte) ([]byte, []byte, bool) {
	for i, c := range v {
		switch plainByte[c] {
		case plainQuote:
			return v[:i], v[i+1:], i > 0
		case plainNo:
			return nil, nil, false
		}
	}
	return nil, nil, false
}

// What a byte is to plainString: one lookup a byte, as every record's two
// addresses go through it.
const (
	plainNo byte = iota
	plainYes
	plainQuote
)

// plainByte classes every byte for plainString.
var plainByte = func() (t [256]byte) {
	for c := 0x20; c <= 0x7e; c++ {
		t[c] = plainYes
	}
	for _, c := range []byte(`\<>&`) {
		t[c] = plainNo
	}
	for c := 'A'; c <= 'Z'; c++ {
		t[c] = plainNo
	}
	t['"'] = plainQuote
	return t
}()

// plainInt reads a positive integer without sign, leading zero, fraction or
// exponent, at most maxV.
func plainInt(v []byte, maxV int64) (int64, []byte, bool) {
	var n int64
	i := 0
	for ; i < len(v) && v[i] >= '0' && v[i] <= '9'; i++ {
		if i == 0 && v[i] == '0' || i >= 16 {
			return 0, nil, false
		}
		n = n*10 + int64(v[i]-'0')
	}
	if i == 0 || n > maxV {
		return 0, nil, false
	}
	return n, v[i:], true
}

// isRFC3339UTC reports whether v is a UTC time "2006-01-02T15:04:05Z" with
// an optional fraction of 1 to 9 digits: a subset of what the binding's
// time.Parse(time.RFC3339Nano, …) accepts, checked without allocating.
func isRFC3339UTC(v []byte) bool {
	if len(v) < 20 || v[4] != '-' || v[7] != '-' || v[10] != 'T' || v[13] != ':' || v[16] != ':' || v[len(v)-1] != 'Z' {
		return false
	}
	num := func(b []byte) int {
		n := 0
		for _, c := range b {
			if c < '0' || c > '9' {
				return -1
			}
			n = n*10 + int(c-'0')
		}
		return n
	}
	year, month, day := num(v[0:4]), num(v[5:7]), num(v[8:10])
	hour, minute, sec := num(v[11:13]), num(v[14:16]), num(v[17:19])
	if year < 0 || month < 1 || month > 12 || day < 1 || hour < 0 || hour > 23 || minute < 0 || minute > 59 || sec < 0 || sec > 59 {
		return false
	}
	if day > daysIn(year, month) {
		return false
	}
	frac := v[19 : len(v)-1]
	if len(frac) == 0 {
		return true
	}
	return len(frac) >= 2 && len(frac) <= 10 && frac[0] == '.' && num(frac[1:]) >= 0
}

// daysIn is the number of days of month (1 to 12) of year, proleptic
// Gregorian as time.Date counts them; without time.Date, which costs more
// than the rest of a record's check.
func daysIn(year, month int) int {
	switch month {
	case 2:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

// hashSeed keys bodyHash. The hashes are compared only within one summary,
// so a seed per process is enough.
var hashSeed = maphash.MakeSeed()

// bodyHash tells two versions of an order apart by their canonical bytes.
func bodyHash(b []byte) uint64 { return maphash.Bytes(hashSeed, b) }
