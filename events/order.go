package events

import (
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
)

// Limits of an order, part of the public contract (README, schemas/order.json).
const (
	// MaxOrderID is the largest order_id: 2^53-1, the largest integer every
	// JSON client (JavaScript included) represents exactly.
	MaxOrderID = MaxSafeInteger
	// MaxSopaipillas is the most sopaipillas one order may ask for.
	MaxSopaipillas = 1000
	// MaxExtraDepth is how deeply the value of a field beyond the contract
	// may nest arrays and objects ([[1]] nests 2). Extra fields are kept and
	// published, and every consumer of the order topic must be able to read
	// them: a Python reader stops near 1,000 levels.
	MaxExtraDepth = 8
)

// Field names of an order.
const (
	FieldOrderID           = "order_id"
	FieldEmailVendedor     = "email_vendedor"
	FieldEmailCocinero     = "email_cocinero"
	FieldNumeroSopaipillas = "numero_sopaipillas"
)

// Order is one order from a vendor to a cook.
type Order struct {
	OrderID           int64
	EmailVendedor     string
	EmailCocinero     string
	NumeroSopaipillas int64
	// Extra holds the fields beyond the contract, compacted, kept and
	// published as sent.
	Extra map[string]json.RawMessage
}

// DecodeOrder parses and validates an order. It returns a *SyntaxError for a
// body that is not a JSON object and a *ValidationError naming every wrong
// field. Both addresses come back in their canonical form (CanonicalEmail):
// one mailbox is one vendor wherever the order enters or is read.
func DecodeOrder(data []byte) (Order, error) {
	members, err := decodeObject(data)
	if err != nil {
		return Order{}, err
	}
	var (
		o    Order
		bad  []FieldError
		fail = func(field, detail string) {
			if detail != "" {
				bad = append(bad, FieldError{Field: field, Detail: detail})
			}
		}
		msg string
	)
	o.OrderID, msg = decodeInt(members[FieldOrderID], 1, MaxOrderID)
	fail(FieldOrderID, msg)
	o.NumeroSopaipillas, msg = decodeInt(members[FieldNumeroSopaipillas], 1, MaxSopaipillas)
	fail(FieldNumeroSopaipillas, msg)
	for field, dst := range map[string]*string{FieldEmailVendedor: &o.EmailVendedor, FieldEmailCocinero: &o.EmailCocinero} {
		s, msg := decodeString(members[field])
		if msg == "" {
			msg = validateEmail(s)
		}
		fail(field, msg)
		*dst = CanonicalEmail(s)
	}
	for k, v := range members {
		if d := nesting(v); d > MaxExtraDepth && !isContractField(k) {
			fail(k, fmt.Sprintf("nests %d levels of arrays and objects; at most %d are allowed", d, MaxExtraDepth))
		}
	}
	if len(bad) > 0 {
		sort.Slice(bad, func(i, j int) bool { return bad[i].Field < bad[j].Field })
		return Order{}, &ValidationError{Fields: bad}
	}
	for k, v := range members {
		if isContractField(k) {
			continue
		}
		// Marshalling a RawMessage compacts it and escapes <, > and & the
		// way MarshalJSON's output is escaped, so a decoded order and its
		// canonical bytes decode to the same Extra.
		b, err := json.Marshal(v)
		if err != nil {
			return Order{}, &SyntaxError{FieldError{Field: k, Detail: "value is not JSON"}}
		}
		if o.Extra == nil {
			o.Extra = make(map[string]json.RawMessage)
		}
		o.Extra[k] = b
	}
	return o, nil
}

func isContractField(k string) bool {
	return k == FieldOrderID || k == FieldEmailVendedor || k == FieldEmailCocinero || k == FieldNumeroSopaipillas
}

// nesting is how deeply a JSON value nests arrays and objects: 0 for a
// scalar, 1 for [1] or {}, 2 for [[1]].
func nesting(v json.RawMessage) int {
	depth, deepest, inString := 0, 0, false
	for i := 0; i < len(v); i++ {
		switch c := v[i]; {
		case inString && c == '\\':
			i++
		case c == '"':
			inString = !inString
		case inString:
		case c == '[' || c == '{':
			depth++
			deepest = max(deepest, depth)
		case c == ']' || c == '}':
			depth--
		}
	}
	return deepest
}

// MarshalJSON encodes the order canonically: all fields, keys sorted, no
// spaces. Two requests carrying the same order give the same bytes, which is
// how dailySummary tells a retry from a conflicting second version.
func (o Order) MarshalJSON() ([]byte, error) {
	if len(o.Extra) == 0 {
		return o.appendContract(make([]byte, 0, 160))
	}
	all := make(map[string]json.RawMessage, len(o.Extra)+4)
	for k, v := range o.Extra {
		all[k] = v
	}
	all[FieldOrderID] = json.RawMessage(strconv.FormatInt(o.OrderID, 10))
	all[FieldNumeroSopaipillas] = json.RawMessage(strconv.FormatInt(o.NumeroSopaipillas, 10))
	for k, v := range map[string]string{FieldEmailVendedor: o.EmailVendedor, FieldEmailCocinero: o.EmailCocinero} {
		b, err := json.Marshal(v)
		if err != nil {
			return nil, fmt.Errorf("encoding %s: %w", k, err)
		}
		all[k] = b
	}
	return json.Marshal(all)
}

// appendContract writes an order without extra fields: the same bytes
// json.Marshal gives for the map in MarshalJSON (keys in sorted order),
// without building the map. It is newOrder's hot path.
func (o Order) appendContract(b []byte) ([]byte, error) {
	vendedor, err := json.Marshal(o.EmailVendedor)
	if err != nil {
		return nil, fmt.Errorf("encoding %s: %w", FieldEmailVendedor, err)
	}
	cocinero, err := json.Marshal(o.EmailCocinero)
	if err != nil {
		return nil, fmt.Errorf("encoding %s: %w", FieldEmailCocinero, err)
	}
	b = append(b, `{"`+FieldEmailCocinero+`":`...)
	b = append(b, cocinero...)
	b = append(b, `,"`+FieldEmailVendedor+`":`...)
	b = append(b, vendedor...)
	b = append(b, `,"`+FieldNumeroSopaipillas+`":`...)
	b = strconv.AppendInt(b, o.NumeroSopaipillas, 10)
	b = append(b, `,"`+FieldOrderID+`":`...)
	b = strconv.AppendInt(b, o.OrderID, 10)
	return append(b, '}'), nil
}

// OrderEventID is the CloudEvent id of an order: fixed by its order_id so
// that a retried request publishes an event with the same id.
func OrderEventID(orderID int64) string {
	return "order-" + strconv.FormatInt(orderID, 10)
}

// NewOrderEvent builds the event newOrder publishes for an accepted order.
// accepted is when newOrder accepted it: the time that places the order in a
// day.
func NewOrderEvent(o Order, accepted time.Time) (cloudevents.Event, error) {
	e := cloudevents.NewEvent()
	e.SetID(OrderEventID(o.OrderID))
	e.SetType(TypeOrderCreated)
	e.SetSource(SourceNewOrder)
	e.SetSubject(strconv.FormatInt(o.OrderID, 10))
	e.SetTime(accepted)
	e.SetExtension(PartitionKeyExtension, strconv.FormatInt(o.OrderID, 10))
	data, err := o.MarshalJSON() // already canonical: no second pass through json.Marshal
	if err != nil {
		return cloudevents.Event{}, fmt.Errorf("encoding order %d: %w", o.OrderID, err)
	}
	if err := e.SetData(cloudevents.ApplicationJSON, data); err != nil {
		return cloudevents.Event{}, fmt.Errorf("encoding order %d: %w", o.OrderID, err)
	}
	if err := e.Validate(); err != nil {
		return cloudevents.Event{}, fmt.Errorf("building order event: %w", err)
	}
	return e, nil
}

// OrderFromStructured decodes a structured-mode CloudEvent (the JSON event
// format, CloudEvents spec "JSON Event Format") and returns the event and
// the order it carries. Older CloudEvents SDKs write such records with
// content-type application/json; the envelope, not the header, says what
// they are. It fails with the error of the first step that fails: the
// envelope (not an event, invalid attributes), then OrderFromEvent.
func OrderFromStructured(value []byte) (cloudevents.Event, Order, error) {
	e := cloudevents.NewEvent()
	if err := e.UnmarshalJSON(value); err != nil {
		return e, Order{}, &SyntaxError{FieldError{Field: "cloudevent", Detail: "not a structured-mode CloudEvent: " + err.Error()}}
	}
	if err := e.Validate(); err != nil {
		return e, Order{}, &SyntaxError{FieldError{Field: "cloudevent", Detail: "invalid CloudEvent: " + err.Error()}}
	}
	o, err := OrderFromEvent(e)
	return e, o, err
}

// IsStructuredEvent reports whether value is a JSON object with a
// "specversion" member: a CloudEvent in the JSON event format, whatever
// the transport's content type says. A plain order never has one.
func IsStructuredEvent(value []byte) bool {
	members, err := decodeObject(value)
	if err != nil {
		return false
	}
	_, ok := members["specversion"]
	return ok
}

// OrderFromEvent returns the order an order event carries, validated as if
// it had just arrived: records on a topic may have been written by anyone.
func OrderFromEvent(e cloudevents.Event) (Order, error) {
	if e.Type() != TypeOrderCreated {
		return Order{}, fmt.Errorf("event type %q is not %q", e.Type(), TypeOrderCreated)
	}
	return DecodeOrder(e.Data())
}
