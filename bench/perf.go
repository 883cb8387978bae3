package main

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/IBM/sarama"

	"github.com/sopaipillas/sopaipillas/events"
)

// createTopic creates a fresh topic with the retention the functions give
// theirs.
func (b *bench) createTopic(topic string, partitions int32) error {
	cfg := sarama.NewConfig()
	cfg.Version = sarama.V4_0_0_0
	admin, err := sarama.NewClusterAdmin(b.brokers, cfg)
	if err != nil {
		return err
	}
	defer admin.Close()
	retention := strconv.Itoa(events.DefaultRetentionMs)
	err = admin.CreateTopic(topic, &sarama.TopicDetail{NumPartitions: partitions, ReplicationFactor: -1,
		ConfigEntries: map[string]*string{"retention.ms": &retention}}, false)
	if err != nil && !errors.Is(err, sarama.ErrTopicAlreadyExists) {
		return fmt.Errorf("creating %s: %w", topic, err)
	}
	// Wait until every partition has a leader: the writer does not retry.
	client, err := sarama.NewClient(b.brokers, cfg)
	if err != nil {
		return err
	}
	defer client.Close()
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		ready := client.RefreshMetadata(topic) == nil
		for p := range partitions {
			if ready {
				_, err := client.Leader(topic, p)
				ready = err == nil
			}
		}
		if ready {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("topic %s has no leader for every partition after 30s", topic)
		}
	}
}

// kafkaTool runs one of hack/kafka.sh's perf commands and returns its output.
func (b *bench) kafkaTool(ctx context.Context, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, b.kafkaSh, args...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("hack/kafka.sh %s: %w\n%s", args[0], err, tail(string(out), 2000))
	}
	return string(out), nil
}

// producerPerfRe matches ProducerPerformance's final line:
// "N records sent, X records/sec (Y MB/sec), A ms avg latency, ..."
var producerPerfRe = regexp.MustCompile(`(\d+) records sent, ([0-9.]+) records/sec \(([0-9.]+) MB/sec\), ([0-9.]+) ms avg latency, ([0-9.]+) ms max latency, (\d+) ms 50th, (\d+) ms 95th, (\d+) ms 99th, (\d+) ms 99.9th`)

// producerPerf runs kafka-producer-perf-test with newOrder's record size and
// producer guarantees (acks=all, idempotent) and returns records/s and p99
// latency in ms.
func (b *bench) producerPerf(ctx context.Context, topic string, records, size int) (float64, float64, error) {
	out, err := b.kafkaTool(ctx, "perf-producer", strings.Join(b.brokers, ","),
		"--topic", topic, "--num-records", strconv.Itoa(records), "--record-size", strconv.Itoa(size),
		"--throughput", "-1", "--producer-props", "acks=all", "enable.idempotence=true", "max.block.ms=30000")
	if err != nil {
		return 0, 0, err
	}
	m := producerPerfRe.FindAllStringSubmatch(out, -1)
	if len(m) == 0 {
		return 0, 0, fmt.Errorf("producer perf: %w:\n%s", errNoFigure, tail(out, 2000))
	}
	last := m[len(m)-1]
	if last[1] != strconv.Itoa(records) {
		return 0, 0, fmt.Errorf("producer perf sent %s of %d records:\n%s", last[1], records, tail(out, 2000))
	}
	if strings.Contains(out, "Exception") || strings.Contains(out, "ERROR") {
		return 0, 0, fmt.Errorf("producer perf reported errors:\n%s", tail(out, 2000))
	}
	rate, _ := strconv.ParseFloat(last[2], 64)
	p99, _ := strconv.ParseFloat(last[8], 64)
	b.logf("producer perf: %s", strings.TrimSpace(last[0]))
	return rate, p99, nil
}

// producerPerfAt runs kafka-producer-perf-test at a steady rate with
// newOrder's record size and guarantees (acks=all, idempotent, no linger,
// as newOrder's producer) and returns the p99 latency in ms of the records
// after the first warmup (its "steady state" line): what the Kafka write
// alone costs at that rate, in whole milliseconds as the tool prints it.
func (b *bench) producerPerfAt(ctx context.Context, topic string, rate, records, warmup, size int) (float64, error) {
	out, err := b.kafkaTool(ctx, "perf-producer", strings.Join(b.brokers, ","),
		"--topic", topic, "--num-records", strconv.Itoa(records), "--warmup-records", strconv.Itoa(warmup),
		"--record-size", strconv.Itoa(size), "--throughput", strconv.Itoa(rate),
		"--producer-props", "acks=all", "enable.idempotence=true", "linger.ms=0", "max.block.ms=30000")
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(out, "\n") {
		if !strings.Contains(line, "steady state") {
			continue
		}
		if m := producerPerfRe.FindStringSubmatch(strings.Replace(line, "steady state records", "records", 1)); m != nil {
			b.logf("producer perf at %d/s: %s", rate, strings.TrimSpace(line))
			p99, _ := strconv.ParseFloat(m[8], 64)
			return p99, nil
		}
	}
	return 0, fmt.Errorf("producer perf at %d/s: %w:\n%s", rate, errNoFigure, tail(out, 2000))
}

// consumerPerf runs kafka-consumer-perf-test over records records of topic
// and returns its fetch.nMsg.sec: records/s once consuming, the group join
// left out.
func (b *bench) consumerPerf(ctx context.Context, topic string, records int) (float64, error) {
	out, err := b.kafkaTool(ctx, "perf-consumer", strings.Join(b.brokers, ","),
		"--topic", topic, "--num-records", strconv.Itoa(records), "--timeout", "60000",
		// A group of its own each time: a group's committed offsets would
		// start the next run at the end.
		"--group", "bench-perf-"+topic+"-"+strconv.Itoa(b.perfRuns))
	b.perfRuns++
	if err != nil {
		return 0, err
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	for i, line := range lines {
		if !strings.HasPrefix(line, "start.time") || i+1 >= len(lines) {
			continue
		}
		cols := strings.Split(line, ",")
		vals := strings.Split(lines[i+1], ",")
		var n, rate float64
		for j, c := range cols {
			if j >= len(vals) {
				break
			}
			v, _ := strconv.ParseFloat(strings.TrimSpace(vals[j]), 64)
			switch strings.TrimSpace(c) {
			case "data.consumed.in.nMsg":
				n = v
			case "fetch.nMsg.sec":
				rate = v
			}
		}
		if int(n) < records {
			return 0, fmt.Errorf("consumer perf read %.0f of %d records:\n%s", n, records, tail(out, 2000))
		}
		b.logf("consumer perf: %d records, %.0f records/s", records, rate)
		return rate, nil
	}
	return 0, fmt.Errorf("consumer perf: %w:\n%s", errNoFigure, tail(out, 2000))
}

// readRounds is how many times the summary sections alternate
// kafka-consumer-perf-test and the summary over the same topic.
func (b *bench) readRounds() int {
	if b.quick {
		return 1
	}
	return 3
}

// alternateReads measures a summary's read beside kafka-consumer-perf-test
// over the same topic of records records, alternately, rounds times, and
// returns the median of each: both move with the machine's load (the
// reference alone moved from 1.14M to 1.51M records/s between two runs of
// the steady section), and a ratio of one run of each compares whatever
// happened during each. summary reads and checks one summary.
func (b *bench) alternateReads(ctx context.Context, label, topic string, records int, summary func() (time.Duration, error)) (float64, time.Duration, error) {
	var perfs []float64
	var tooks []time.Duration
	for round := range b.readRounds() {
		perf, err := b.consumerPerf(ctx, topic, records)
		if err != nil {
			return 0, 0, err
		}
		took, err := summary()
		if err != nil {
			return 0, 0, err
		}
		b.logf("%s round %d: consumer perf %.0f records/s, the summary %s (%.0f records/s, ratio %.3f)", label, round+1,
			perf, took.Round(time.Millisecond), float64(records)/took.Seconds(), float64(records)/took.Seconds()/perf)
		perfs, tooks = append(perfs, perf), append(tooks, took)
	}
	slices.Sort(perfs)
	slices.Sort(tooks)
	return perfs[len(perfs)/2], tooks[len(tooks)/2], nil
}
