// Package events is the contract of sopaipillas: the CloudEvent types and
// sources, the payloads they carry, their validation and the constructors that
// build them. Functions import it; nothing else defines an event.
//
// Three events flow through Kafka:
//
//   - TypeOrderCreated on topic "order", one per accepted order, built by
//     NewOrderEvent. Its id comes from the order_id, so a retried order carries
//     the same id.
//   - TypeSummaryCreated on topic "summary", one per summarized day, built by
//     NewSummaryEvent. Its id comes from the day and the content, so the same
//     summary published twice carries the same id.
//   - TypeCookReportCreated on topic "summary" beside each summary, one per
//     cook with orders that day, built by NewCookReportEvent: the cook's
//     orders in all and by vendor.
//
// Both reports carry their computation time as the event's time and the
// extensions ExtensionReportStatus (partial while the day is not over,
// final after) and ExtensionCountedUntil (ReportMeta).
//
// The JSON payloads are a public contract (see schemas/): field names and
// shapes never change.
package events
