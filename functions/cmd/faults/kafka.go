package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
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

// nodePid is node i's JVM, checked to be that node's (its command line
// names the node's server.properties).
func (k *kafkaCluster) nodePid(i int) (int, error) {
	nd := filepath.Join(k.state, "node"+strconv.Itoa(i))
	b, err := os.ReadFile(filepath.Join(nd, "pid"))
	if err != nil {
		return 0, err
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return 0, err
	}
	cmdline, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
	if err != nil || !bytes.Contains(cmdline, []byte(filepath.Join(nd, "server.properties"))) {
		return 0, fmt.Errorf("node %d: pid %d is not its broker", i, pid)
	}
	return pid, nil
}

// freezeNode SIGSTOPs node i, as a long GC pause or a hung disk would: its
// sockets stay open and accept connections, nothing answers. The returned
// function thaws it (SIGCONT) and is safe to call more than once.
func (k *kafkaCluster) freezeNode(i int) (func(), error) {
	pid, err := k.nodePid(i)
	if err != nil {
		return nil, err
	}
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		return nil, err
	}
	var once sync.Once
	return func() { once.Do(func() { _ = syscall.Kill(pid, syscall.SIGCONT) }) }, nil
}

// addListener gives node 1 of a single-node cluster a third listener,
// PROXIED on listen (127.0.0.1:port), that advertises advertise: clients
// that bootstrap through a proxy at advertise are told to connect there
// again. The node is stopped and restarted with its data.
func (k *kafkaCluster) addListener(ctx context.Context, listen, advertise string) error {
	nd := filepath.Join(k.state, "node1")
	port, err1 := os.ReadFile(filepath.Join(nd, "port"))
	cport, err2 := os.ReadFile(filepath.Join(nd, "controller_port"))
	if err := errors.Join(err1, err2); err != nil {
		return err
	}
	p, c := strings.TrimSpace(string(port)), strings.TrimSpace(string(cport))
	extra := fmt.Sprintf("\n# Added by the fault harness (scenario 10): a listener behind a proxy.\n"+
		"listeners=PLAINTEXT://127.0.0.1:%s,CONTROLLER://127.0.0.1:%s,PROXIED://%s\n"+
		"advertised.listeners=PLAINTEXT://127.0.0.1:%s,PROXIED://%s\n"+
		"listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,PROXIED:PLAINTEXT\n", p, c, listen, p, advertise)
	if _, err := k.exec(ctx, "stop", k.state); err != nil {
		return err
	}
	f, err := os.OpenFile(filepath.Join(nd, "server.properties"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	_, err = f.WriteString(extra)
	f.Close()
	if err != nil {
		return err
	}
	return k.restartNode(ctx, 1)
}
