package vendors

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// Config is the registry's environment, shared by newOrder and sendMail.
type Config struct {
	// File is the registry file; empty means no registry (open).
	File string `envconfig:"VENDORS_FILE"`
	// ReloadInterval is how often the file is checked for changes.
	ReloadInterval time.Duration `envconfig:"VENDORS_RELOAD_INTERVAL" default:"5s" check:"positive"`
}

// Watcher holds the current registry of a file and reloads it when the
// file's content changes.
//
// It polls: it reads the file every interval and compares a hash of the
// content with the last one loaded. Kubernetes updates a mounted Secret by
// writing a new directory and swapping a symlink (..data), so the file's own
// inode never changes and inotify on the path sees nothing; reading the path
// follows the swap. A read of a few KB every few seconds costs nothing.
// (fsnotify is not a dependency, and would need the directory watched for the
// symlink swap anyway.)
//
// A file that cannot be read or parsed after the first load keeps the last
// good registry in force and is logged at ERROR level: a half-written or
// mistyped file must not open the door, nor lock every vendor out.
type Watcher struct {
	path     string
	interval time.Duration
	log      *slog.Logger

	current atomic.Pointer[Registry]
	sum     [sha256.Size]byte // of the content loaded (or last refused)
	lastErr string            // last error logged, to log each once

	stop chan struct{}
	done sync.WaitGroup
	once sync.Once
}

// Load reads path once and returns its registry.
func Load(path string) (*Registry, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return Parse(data)
}

// Watch loads path, failing when it cannot (a registry configured but
// missing must stop the function, not leave it open), and reloads it every
// interval until Close.
func Watch(path string, interval time.Duration, log *slog.Logger) (*Watcher, error) {
	if interval <= 0 {
		return nil, fmt.Errorf("VENDORS_RELOAD_INTERVAL must be positive, got %s", interval)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("VENDORS_FILE: %w", err)
	}
	reg, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("VENDORS_FILE %s: %w", path, err)
	}
	w := &Watcher{path: path, interval: interval, log: log, stop: make(chan struct{}), sum: sha256.Sum256(data)}
	w.current.Store(reg)
	log.Info("vendor registry loaded", "file", path, "vendors", reg.Vendors(), "keys", reg.Keys())
	w.done.Add(1)
	go w.loop()
	return w, nil
}

// Registry is the registry in force.
func (w *Watcher) Registry() *Registry { return w.current.Load() }

// Close stops the reloading.
func (w *Watcher) Close() error {
	w.once.Do(func() { close(w.stop) })
	w.done.Wait()
	return nil
}

func (w *Watcher) loop() {
	defer w.done.Done()
	t := time.NewTicker(w.interval)
	defer t.Stop()
	for {
		select {
		case <-w.stop:
			return
		case <-t.C:
			w.reload()
		}
	}
}

// reload loads the file if its content changed since the last check.
func (w *Watcher) reload() {
	data, err := os.ReadFile(w.path)
	if err != nil {
		w.fail(err)
		return
	}
	sum := sha256.Sum256(data)
	if bytes.Equal(sum[:], w.sum[:]) {
		return
	}
	w.sum = sum
	reg, err := Parse(data)
	if err != nil {
		w.fail(err)
		return
	}
	w.lastErr = ""
	w.current.Store(reg)
	w.log.Info("vendor registry reloaded", "file", w.path, "vendors", reg.Vendors(), "keys", reg.Keys())
}

func (w *Watcher) fail(err error) {
	if err.Error() == w.lastErr {
		return
	}
	w.lastErr = err.Error()
	w.log.Error("vendor registry not reloaded: the previous one stays in force", "file", w.path, "error", err)
}

// Open watches cfg.File; without one (no registry) it returns nil.
func Open(cfg Config, log *slog.Logger) (*Watcher, error) {
	if cfg.File == "" {
		return nil, nil
	}
	return Watch(cfg.File, cfg.ReloadInterval, log)
}
