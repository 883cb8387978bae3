package events

import (
	"iter"
	"strings"
)

// KafkaAttributePrefix is the header prefix of a CloudEvent attribute in
// a Kafka record (CloudEvents Kafka protocol binding, binary mode: "ce_").
const KafkaAttributePrefix = "ce_"

// RepeatedKafkaHeader returns the first header name, lower-cased, that the
// CloudEvents Kafka binding reads (content-type and every "ce_" header,
// names case-insensitive) and that keys holds more than once, or "" if none
// does. Such a record is not one CloudEvent: the binding would keep the
// last value where another consumer keeps the first.
func RepeatedKafkaHeader(keys iter.Seq[string]) string {
	var seen []string // a record has a handful of headers
	for k := range keys {
		k = strings.ToLower(k)
		if k != "content-type" && !strings.HasPrefix(k, KafkaAttributePrefix) {
			continue
		}
		for _, s := range seen {
			if s == k {
				return k
			}
		}
		seen = append(seen, k)
	}
	return ""
}
