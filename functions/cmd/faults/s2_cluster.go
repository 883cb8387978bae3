package main

import (
	"context"
	"fmt"
	"time"

	"github.com/IBM/sarama"
)

// scenarioClusterNodeKill: on three brokers with RF 3 and min ISR 2, one
// broker is SIGKILLed under load and brought back. Two replicas stay in
// sync, so newOrder should barely notice: the row's longest unavailability
// is the figure to watch.
func scenarioClusterNodeKill(ctx context.Context, h *harness, row *Row) error {
	k, err := h.threeBrokers(ctx)
	if err != nil {
		return err
	}
	p, err := h.startPipeline(ctx, k)
	if err != nil {
		return err
	}
	leaders, err := checkReplication(k.brokers, p.orderTopic, 3, "2")
	if err != nil {
		return err
	}
	row.note("topic %s: RF 3, min.insync.replicas 2", p.orderTopic)
	// Kill a broker that leads some partitions, so that leadership moves.
	victim := leaders[0]
	l := newLoad(loadConfig{
		URL: p.newOrder.url("/newOrder"), FirstID: 2_000_000, Count: h.opts.orders, Vendors: 100,
		Concurrency: h.opts.concurrency, Deadline: 4 * time.Minute,
	})
	done := runLoad(ctx, l)
	if err := waitAcked(ctx, l, h.opts.orders/3); err != nil {
		return err
	}
	down, err := killAndRestart(ctx, k, victim, 5*time.Second, l)
	if err != nil {
		return err
	}
	res := <-done
	loadNotes(row, res)
	row.note("node %d (a partition leader) down %s", victim, down.Round(100*time.Millisecond))
	_, err = verifyOrders(ctx, row, k.brokers, p.orderTopic, p.summary.url("/dailySummary"), res, 100)
	return err
}

// checkReplication checks that topic has replication factor rf and the
// given min.insync.replicas, and returns the node ids leading its
// partitions (node ids are hack/kafka.sh's 1-based node numbers).
func checkReplication(brokers []string, topic string, rf int, minISR string) ([]int, error) {
	cfg := sarama.NewConfig()
	cfg.Version = sarama.V4_0_0_0
	admin, err := sarama.NewClusterAdmin(brokers, cfg)
	if err != nil {
		return nil, err
	}
	defer admin.Close()
	meta, err := admin.DescribeTopics([]string{topic})
	if err != nil || len(meta) != 1 || meta[0].Err != sarama.ErrNoError {
		return nil, fmt.Errorf("describing %s: %v", topic, err)
	}
	var leaders []int
	seen := map[int]bool{}
	for _, pm := range meta[0].Partitions {
		if len(pm.Replicas) != rf {
			return nil, fmt.Errorf("%s/%d has %d replicas, want %d", topic, pm.ID, len(pm.Replicas), rf)
		}
		if l := int(pm.Leader); !seen[l] {
			seen[l] = true
			leaders = append(leaders, l)
		}
	}
	results, err := admin.DescribeConfigs([]*sarama.ConfigResource{{Type: sarama.TopicResource, Name: topic, ConfigNames: []string{"min.insync.replicas"}}}, sarama.DescribeConfigsOptions{})
	if err == nil && len(results) == 1 && results[0].ErrorCode != sarama.ErrNoError {
		err = results[0].ErrorCode
	}
	if err != nil || len(results) != 1 {
		return nil, fmt.Errorf("describing %s's config: %v", topic, err)
	}
	for _, e := range results[0].Configs {
		if e.Name == "min.insync.replicas" && e.Value != minISR {
			return nil, fmt.Errorf("%s has min.insync.replicas=%s, want %s", topic, e.Value, minISR)
		}
	}
	return leaders, nil
}
