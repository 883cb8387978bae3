// Package e2e holds the end-to-end tests: the three functions wired to a
// Kafka broker and an SMTP server exactly as deployed, driven over HTTP.
// They run against the embedded broker and, when KAFKA_BROKERS names one
// (make test starts a real Apache Kafka), against that broker too.
package e2e
