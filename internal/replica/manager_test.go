package replica

import (
	"context"
	"errors"
	"log/slog"
	"testing"

	"github.com/eddy-streaming/eddy/internal/record/recordtest"
	"github.com/eddy-streaming/eddy/internal/storage"
)

func openManager(t *testing.T) (*Manager, *storage.Manager) {
	t.Helper()
	logs, err := storage.Open(context.Background(), storage.Config{Dir: t.TempDir(), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { logs.Close() })
	for p := range int32(2) {
		if _, err := logs.CreateLog("t", p, storage.DefaultLogConfig()); err != nil {
			t.Fatal(err)
		}
	}
	return NewManager(Config{NodeID: 7, Logs: logs}), logs
}

func TestManagerLeads(t *testing.T) {
	m, _ := openManager(t)
	if _, err := m.Partition("t", 0); !errors.Is(err, ErrUnknownPartition) {
		t.Fatalf("before leading: %v; want unknown partition", err)
	}
	if err := m.Lead("t", 0, 2, 0); err != nil {
		t.Fatal(err)
	}
	p, err := m.Partition("t", 1)
	if err != nil {
		t.Fatal(err)
	}
	if isr := p.ISR(); len(isr) != 1 || isr[0] != 7 {
		t.Fatalf("isr %v; want [7]", isr)
	}
	// The log's high watermark is its end: acks=all returns at once.
	res, err := p.Append(context.Background(), recordtest.Simple(3, 10), AppendOptions{Acks: -1, Storage: storage.AppendOptions{Sync: true}})
	if err != nil || res.BaseOffset != 0 || p.HighWatermark() != 3 {
		t.Fatalf("append: %+v, %v, high watermark %d; want base 0, 3", res, err, p.HighWatermark())
	}
	if _, err := m.Partition("t", 2); !errors.Is(err, ErrUnknownPartition) {
		t.Fatalf("partition without a log: %v; want unknown partition", err)
	}
	if err := m.Lead("t", 2, 3, 0); !errors.Is(err, ErrUnknownPartition) {
		t.Fatalf("leading a partition without a log: %v; want unknown partition", err)
	}
}

func TestManagerStopAndRemove(t *testing.T) {
	m, _ := openManager(t)
	if err := m.Lead("t", 0, 2, 1); err != nil {
		t.Fatal(err)
	}
	m.Stop("t", 0)
	if _, err := m.Partition("t", 0); !errors.Is(err, ErrNotLeader) {
		t.Fatalf("stopped: %v; want not leader", err)
	}
	if err := m.Lead("t", 0, 1, 0); !errors.Is(err, ErrStaleEpoch) {
		t.Fatalf("lead at an older epoch: %v; want stale epoch", err)
	}
	if err := m.Lead("t", 0, 1, 2); err != nil {
		t.Fatal(err)
	}
	if p, err := m.Partition("t", 0); err != nil {
		t.Fatal(err)
	} else if e, _ := p.LeaderEpoch(); e != 2 {
		t.Fatalf("epoch %d; want 2", e)
	}
	p1, _ := m.Partition("t", 1)
	m.RemoveTopic("t")
	for p := range int32(2) {
		if _, err := m.Partition("t", p); !errors.Is(err, ErrUnknownPartition) {
			t.Fatalf("partition %d after removal: %v; want unknown partition", p, err)
		}
	}
	if _, err := p1.Append(context.Background(), recordtest.Simple(1, 10), AppendOptions{Acks: 1}); !errors.Is(err, ErrNotLeader) {
		t.Fatalf("append to a removed partition held by a caller: %v; want not leader", err)
	}
}
