package devstack

import (
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"

	cloudevents "github.com/cloudevents/sdk-go/v2"
)

// FileDeadLetter writes dead-lettered events as JSON files into dir.
func FileDeadLetter(dir string, log *slog.Logger) func(context.Context, cloudevents.Event, string) {
	return func(_ context.Context, e cloudevents.Event, reason string) {
		log.Error("event dead-lettered", "event_id", e.ID(), "type", e.Type(), "reason", reason)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return
		}
		b, _ := json.MarshalIndent(map[string]any{"reason": reason, "event": e}, "", "  ")
		if err := writeFileAtomic(filepath.Join(dir, filepath.Base(e.ID())+".json"), b); err != nil {
			log.Error("saving dead letter", "event_id", e.ID(), "error", err)
		}
	}
}

// writeFileAtomic writes path whole or not at all: a reader (the mail view,
// a person) never sees half a file, even after a kill -9.
func writeFileAtomic(path string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), ".incoming-*")
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		os.Remove(f.Name())
	}
	return err
}
