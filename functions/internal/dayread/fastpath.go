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
	// traced: it carries trace context (ce_traceparent).
	traced bool
}

// Header values of an order record (kafka_sarama binary mode), compared
// as constants.
const (
	vJSON        = "application/json"
	vSpecVersion = "1.0"
	vSource      = events.SourceNewOrder
	vType        = events.TypeOrderCreated
)

// Headers of the fast shape, by index (fh*): the first eight required,
// each at most once. The first seven come in the order the binding writes
// them (the spec's attributes, id first), the extensions after them in no
// set order: fastHeader first tries the key at a header's place. Keys are
// compared as constants, which the compiler does without a call.
const (
	fhID = iota
	fhSource
	fhSpecVersion
	fhType
	fhContentType
	fhSubject
	fhTime
	fhPartitionKey
	// The distributed-tracing extension newOrder adds when it has a
	// trace context.
	fhTraceParent
	fhTraceState
	fhCount
)

// fastHeader returns the index (fh*) of key, the header at place i of its
// record, or -1.
func fastHeader(key string, i int) int {
	switch {
	case i == fhID && key == "ce_id",
		i == fhSource && key == "ce_source",
		i == fhSpecVersion && key == "ce_specversion",
		i == fhType && key == "ce_type",
		i == fhContentType && key == "content-type",
		i == fhSubject && key == "ce_subject",
		i == fhTime && key == "ce_time":
		return i
	}
	switch key {
	case "ce_id":
		return fhID
	case "ce_source":
		return fhSource
	case "ce_specversion":
		return fhSpecVersion
	case "ce_type":
		return fhType
	case "content-type":
		return fhContentType
	case "ce_subject":
		return fhSubject
	case "ce_time":
		return fhTime
	case "ce_partitionkey":
		return fhPartitionKey
	case "ce_traceparent":
		return fhTraceParent
	case "ce_tracestate":
		return fhTraceState
	}
	return -1
}

// decode fills o from an order record of exactly newOrder's shape and
// reports whether it did; false sends the record through the binding.
func (o *fastOrder) decode(headers []kgo.RecordHeader, value []byte) bool {
	if len(headers) < 8 || len(headers) > fhCount {
		return false
	}
	var seen uint16
	for i, h := range headers {
		j := fastHeader(h.Key, i)
		switch j {
		case -1:
			return false
		case fhID: // the binding trims the id and refuses an empty one.
			if len(h.Value) == 0 || len(bytes.TrimSpace(h.Value)) != len(h.Value) {
				return false
			}
			o.eventID = h.Value
		case fhSource:
			if string(h.Value) != vSource {
				return false
			}
		case fhSpecVersion:
			if string(h.Value) != vSpecVersion {
				return false
			}
		case fhType:
			if string(h.Value) != vType {
				return false
			}
		case fhContentType:
			if string(h.Value) != vJSON {
				return false
			}
		case fhTime:
			if !isRFC3339UTC(h.Value) {
				return false
			}
		case fhTraceParent:
			o.traced = true
		}
		// The subject and the extensions: any string, the binding only
		// trims them.
		if seen&(1<<j) != 0 {
			return false
		}
		seen |= 1 << j
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
	// Each key compared as constants of at most 16 bytes, which the
	// compiler does without a call.
	if len(v) < 19 || string(v[:16]) != `{"email_cocinero` || string(v[16:19]) != `":"` {
		return false
	}
	var ok bool
	if o.cook, v, ok = plainString(v[19:]); !ok {
		return false
	}
	if len(v) < 19 || string(v[:16]) != `,"email_vendedor` || string(v[16:19]) != `":"` {
		return false
	}
	if o.vendor, v, ok = plainString(v[19:]); !ok {
		return false
	}
	if len(v) < 22 || string(v[:16]) != `,"numero_sopaipi` || string(v[16:22]) != `llas":` {
		return false
	}
	if o.n, v, ok = plainInt(v[22:], events.MaxSopaipillas); !ok {
		return false
	}
	if len(v) < 12 || string(v[:12]) != `,"order_id":` {
		return false
	}
	if o.id, v, ok = plainInt(v[12:], events.MaxOrderID); !ok {
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
	for _, i := range [...]int{0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18} {
		if v[i]-'0' > 9 { // a byte below '0' wraps around
			return false
		}
	}
	two := func(i int) int { return int(v[i]-'0')*10 + int(v[i+1]-'0') }
	year, month, day := two(0)*100+two(2), two(5), two(8)
	if month < 1 || month > 12 || day < 1 || two(11) > 23 || two(14) > 59 || two(17) > 59 {
		return false
	}
	if day > daysIn(year, month) {
		return false
	}
	frac := v[19 : len(v)-1]
	if len(frac) == 0 {
		return true
	}
	if len(frac) < 2 || len(frac) > 10 || frac[0] != '.' {
		return false
	}
	for _, c := range frac[1:] {
		if c-'0' > 9 {
			return false
		}
	}
	return true
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
