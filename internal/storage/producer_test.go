package storage

import (
	"context"
	"errors"
	"math"
	"testing"

	"github.com/eddy-streaming/eddy/internal/record/recordtest"
)

func idemBatch(id int64, epoch int16, seq int32, n int) []byte {
	return recordtest.Batch(recordtest.Options{Producer: &recordtest.Producer{ID: id, Epoch: epoch, Sequence: seq}},
		recordtest.Values(n, 8))
}

func TestIdempotence(t *testing.T) {
	type step struct {
		id      int64
		epoch   int16
		seq     int32
		n       int
		restart bool
		want    error
		wantOff int64 // -1: don't check
		wantDup bool
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{"in order", []step{{1, 0, 0, 2, false, nil, 0, false}, {1, 0, 2, 3, false, nil, 2, false}}},
		{"duplicate of last", []step{{1, 0, 0, 2, false, nil, 0, false}, {1, 0, 2, 2, false, nil, 2, false}, {1, 0, 2, 2, false, nil, 2, true}}},
		{"duplicate of older", []step{{1, 0, 0, 2, false, nil, 0, false}, {1, 0, 2, 2, false, nil, 2, false}, {1, 0, 0, 2, false, nil, 0, true}}},
		{"gap", []step{{1, 0, 0, 2, false, nil, 0, false}, {1, 0, 5, 1, false, ErrOutOfOrderSequence, -1, false}}},
		{"old epoch", []step{{1, 3, 0, 1, false, nil, 0, false}, {1, 2, 1, 1, false, ErrInvalidProducerEpoch, -1, false}}},
		{"new epoch from zero", []step{{1, 0, 0, 1, false, nil, 0, false}, {1, 1, 0, 1, false, nil, 1, false}}},
		{"new epoch not zero", []step{{1, 0, 0, 1, false, nil, 0, false}, {1, 1, 7, 1, false, ErrOutOfOrderSequence, -1, false}}},
		{"unknown producer", []step{{9, 0, 4, 1, false, ErrUnknownProducerID, -1, false}}},
		{"producers independent", []step{{1, 0, 0, 1, false, nil, 0, false}, {2, 0, 0, 1, false, nil, 1, false}, {1, 0, 1, 1, false, nil, 2, false}}},
		{"restart keeps state", []step{{1, 0, 0, 2, false, nil, 0, false}, {1, 0, 0, 2, true, nil, 0, true}, {1, 0, 3, 1, false, ErrOutOfOrderSequence, -1, false}, {1, 0, 2, 1, false, nil, 2, false}}},
		{"evicted after five", []step{
			{1, 0, 0, 1, false, nil, 0, false}, {1, 0, 1, 1, false, nil, 1, false}, {1, 0, 2, 1, false, nil, 2, false},
			{1, 0, 3, 1, false, nil, 3, false}, {1, 0, 4, 1, false, nil, 4, false}, {1, 0, 5, 1, false, nil, 5, false},
			{1, 0, 1, 1, false, nil, 1, true}, {1, 0, 0, 1, false, ErrOutOfOrderSequence, -1, false}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			m := openManager(t, dir, nil)
			defer func() { m.Close() }()
			l := createLog(t, m, smallConfig())
			for i, s := range tt.steps {
				if s.restart {
					if err := m.Close(); err != nil {
						t.Fatal(err)
					}
					m = openManager(t, dir, nil)
					l = m.Log("t", 0)
				}
				res, err := l.Append(context.Background(), idemBatch(s.id, s.epoch, s.seq, s.n), AppendOptions{})
				if !errors.Is(err, s.want) || s.want == nil && err != nil {
					t.Fatalf("step %d: err %v, want %v", i, err, s.want)
				}
				if err == nil && (s.wantOff >= 0 && res.BaseOffset != s.wantOff || res.Duplicate != s.wantDup) {
					t.Fatalf("step %d: %+v, want offset %d dup %v", i, res, s.wantOff, s.wantDup)
				}
			}
		})
	}
}

func TestProducerStateUncleanRestart(t *testing.T) {
	dir := t.TempDir()
	m := openManager(t, dir, nil)
	l := createLog(t, m, smallConfig())
	mustAppend(t, l, idemBatch(5, 0, 0, 3), true)
	mustAppend(t, l, idemBatch(5, 0, 3, 3), true)
	crash(t, m)
	m = openManager(t, dir, nil)
	defer m.Close()
	res, err := m.Log("t", 0).Append(context.Background(), idemBatch(5, 0, 3, 3), AppendOptions{})
	if err != nil || !res.Duplicate || res.BaseOffset != 3 {
		t.Fatalf("retry after crash: %+v %v", res, err)
	}
}

func TestSequenceWrap(t *testing.T) {
	if got := seqAdd(math.MaxInt32, 1); got != 0 {
		t.Fatalf("seqAdd(max, 1) = %d", got)
	}
	if got := seqAdd(math.MaxInt32-1, 3); got != 1 {
		t.Fatalf("seqAdd(max-1, 3) = %d", got)
	}
	p := producers{1: {epoch: 0, txnFirst: -1, batches: []batchMeta{{math.MaxInt32 - 1, math.MaxInt32, 0, 1}}}}
	h, _ := parseBatch(idemBatch(1, 0, 0, 2))
	if dup, err := p.check(h, nil); err != nil || dup != -1 {
		t.Fatalf("wrapped sequence rejected: %v", err)
	}
}

func TestSnapshotRoundTrip(t *testing.T) {
	p := producers{1: {epoch: 2, batches: []batchMeta{{0, 4, 10, 14}, {5, 5, 20, 20}}}, 7: {epoch: 0}}
	b := p.encodeSnapshot(99)
	got, off, err := decodeSnapshot(b)
	if err != nil || off != 99 || len(got) != 2 || got[1].epoch != 2 || len(got[1].batches) != 2 || got[1].batches[1] != p[1].batches[1] {
		t.Fatalf("round trip: %v %d %+v", err, off, got)
	}
	for i := range b {
		c := append([]byte(nil), b...)
		c[i] ^= 0x10
		if _, _, err := decodeSnapshot(c); err == nil {
			t.Fatalf("flipped byte %d accepted", i)
		}
	}
}
