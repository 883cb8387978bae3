package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// kafkaCluster is a real Apache Kafka cluster run by hack/kafka.sh: every
// start, SIGKILL and restart goes through the script, so the harness uses
// the brokers exactly as `make test` does.
type kafkaCluster struct {
	script  string
	state   string
	log     string
	nodes   int
	brokers []string
	version string
}

// startKafka starts nodes combined broker+controller nodes in state.
func startKafka(ctx context.Context, script, state, logPath string, nodes int) (*kafkaCluster, error) {
	k := &kafkaCluster{script: script, state: state, log: logPath, nodes: nodes}
	var err error
	if nodes == 1 {
		_, err = k.exec(ctx, "start", state)
	} else {
		_, err = k.exec(ctx, "cluster-start", state, strconv.Itoa(nodes))
	}
	if err != nil {
		k.stop()
		return nil, err
	}
	bootstrap, err := os.ReadFile(filepath.Join(state, "bootstrap"))
	if err != nil {
		k.stop()
		return nil, fmt.Errorf("reading bootstrap list: %w", err)
	}
	k.brokers = strings.Split(strings.TrimSpace(string(bootstrap)), ",")
	if v, err := os.ReadFile(filepath.Join(state, "version")); err == nil {
		k.version = strings.TrimSpace(string(v))
	}
	return k, nil
}

// bootstrap is the comma-separated broker list for KAFKA_BROKERS.
func (k *kafkaCluster) bootstrap() string { return strings.Join(k.brokers, ",") }

// killNode SIGKILLs node i (1-based).
func (k *kafkaCluster) killNode(ctx context.Context, i int) error {
	_, err := k.exec(ctx, "kill-node", k.state, strconv.Itoa(i))
	return err
}

// restartNode starts node i again with its data and waits until it serves.
func (k *kafkaCluster) restartNode(ctx context.Context, i int) error {
	_, err := k.exec(ctx, "restart-node", k.state, strconv.Itoa(i))
	return err
}

// stop stops every node (SIGTERM, then SIGKILL). It runs during cleanup, so
// it does not take the run's context, which may be done already.
func (k *kafkaCluster) stop() {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if _, err := k.exec(ctx, "stop", k.state); err != nil {
		logf("kafka: stopping %s: %v", k.state, err)
	}
}

// exec runs hack/kafka.sh; its output goes to the kafka log, and its stderr
// also into the error when it fails.
func (k *kafkaCluster) exec(ctx context.Context, args ...string) (string, error) {
	logFile, err := os.OpenFile(k.log, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return "", err
	}
	defer logFile.Close()
	fmt.Fprintf(logFile, "== %s kafka.sh %s\n", time.Now().Format(time.RFC3339Nano), strings.Join(args, " "))
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, k.script, args...)
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	cmd.WaitDelay = 5 * time.Second
	err = cmd.Run()
	logFile.Write(stdout.Bytes())
	logFile.Write(stderr.Bytes())
	if err != nil {
		return "", fmt.Errorf("kafka.sh %s: %w\n%s", strings.Join(args, " "), err, tail(stderr.String(), 20))
	}
	return stdout.String(), nil
}

// tail returns the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
