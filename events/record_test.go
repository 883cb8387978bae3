package events

import (
	"slices"
	"testing"
)

func TestRepeatedKafkaHeader(t *testing.T) {
	tests := []struct {
		keys []string
		want string
	}{
		{nil, ""},
		{[]string{"ce_type", "ce_id", "content-type"}, ""},
		{[]string{"ce_type", "ce_id", "ce_type"}, "ce_type"},
		{[]string{"CE_SpecVersion", "ce_specversion"}, "ce_specversion"},
		{[]string{"content-type", "Content-Type"}, "content-type"},
		{[]string{"traceparent", "traceparent", "ce-type", "ce-type"}, ""}, // not read by the Kafka binding
	}
	for _, tt := range tests {
		if got := RepeatedKafkaHeader(slices.Values(tt.keys)); got != tt.want {
			t.Errorf("RepeatedKafkaHeader(%q) = %q, want %q", tt.keys, got, tt.want)
		}
	}
}
