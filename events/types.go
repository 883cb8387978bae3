package events

// CloudEvent types and sources. Manifests and the README use the same strings;
// a test in k8s/ keeps them in step.
const (
	// TypeOrderCreated is the type of the event newOrder publishes for each
	// accepted order.
	TypeOrderCreated = "cl.sopaipillas.order.created.v1"
	// TypeSummaryCreated is the type of the event dailySummary publishes for
	// each summarized day.
	TypeSummaryCreated = "cl.sopaipillas.summary.created.v1"
	// TypeCookReportCreated is the type of the event dailySummary publishes
	// beside each summary: the day's orders by cook (CookReport).
	TypeCookReportCreated = "cl.sopaipillas.cookreport.created.v1"
	// TypeVendorReportCreated is the type of the events dailySummary
	// publishes beside each summary: each vendor's orders of the day,
	// counted and not (VendorReport), split over events by size.
	TypeVendorReportCreated = "cl.sopaipillas.vendorreport.created.v1"
	// TypePing is the type a Knative PingSource sends; dailySummary takes it as
	// the scheduled trigger that closes the previous day.
	TypePing = "dev.knative.sources.ping"

	// SourceNewOrder is the source of order events.
	SourceNewOrder = "/sopaipillas/newOrder"
	// SourceDailySummary is the source of summary events.
	SourceDailySummary = "/sopaipillas/dailySummary"

	// PartitionKeyExtension is the CloudEvents extension the Kafka binding
	// turns into the record key: all versions of an order share a partition.
	PartitionKeyExtension = "partitionkey"
)

// Default topic names.
const (
	DefaultOrderTopic   = "order"
	DefaultSummaryTopic = "summary"
	// DefaultReportTopic carries what dailySummary publishes besides the
	// summary (cook and vendor reports), so that "summary" carries only
	// summaries in the seed's JSON (issue 24).
	DefaultReportTopic = "report"
	// DefaultRetentionMs is how long the topics keep data: 3 days.
	DefaultRetentionMs = 259200000
)
