package node

import (
	"log/slog"
	"testing"
	"time"

	"github.com/eddy-streaming/eddy/internal/config"
)

func TestStorageConfigFromSettings(t *testing.T) {
	for _, c := range []struct {
		name     string
		settings map[string]string
		threads  int
		backoff  time.Duration
		rate     float64
	}{
		{"kafka defaults", nil, 1, 15 * time.Second, 0},
		{"cleaner off", map[string]string{"log.cleaner.enable": "false", "log.cleaner.threads": "4"}, -1, 15 * time.Second, 0},
		{"tuned", map[string]string{"log.cleaner.threads": "2", "log.cleaner.backoff.ms": "50", "log.cleaner.io.max.bytes.per.second": "1048576"}, 2, 50 * time.Millisecond, 1 << 20},
	} {
		bc, err := config.ParseBrokerConfig(c.settings)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		got := storageConfig("dir", slog.New(slog.DiscardHandler), bc)
		if got.CleanerThreads != c.threads || got.CleanerBackoff != c.backoff || got.CleanerIOBytesPerSecond != c.rate {
			t.Errorf("%s: threads %d backoff %v rate %v, want %d %v %v", c.name, got.CleanerThreads, got.CleanerBackoff, got.CleanerIOBytesPerSecond, c.threads, c.backoff, c.rate)
		}
		if got.RetentionCheckInterval != 5*time.Minute || got.CleanerDedupeBufferSize != 128<<20 {
			t.Errorf("%s: retention check %v dedupe %d", c.name, got.RetentionCheckInterval, got.CleanerDedupeBufferSize)
		}
	}
}
