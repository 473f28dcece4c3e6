package server

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

const (
	// rateLogBurst and rateLogInterval bound the warnings of one kind a
	// flood of bad clients can cause: at most rateLogBurst lines per
	// interval, the first after a quiet spell saying how many were dropped.
	rateLogBurst    = 5
	rateLogInterval = 10 * time.Second
)

// rateLog writes log lines of each kind at most rateLogBurst times per
// rateLogInterval, so garbage from the network cannot flood the log.
type rateLog struct {
	log *slog.Logger

	mu struct {
		sync.Mutex
		kinds map[string]*logWindow
	}
}

type logWindow struct {
	start      time.Time
	n          int
	suppressed int
}

func newRateLog(log *slog.Logger) *rateLog {
	r := &rateLog{log: log}
	r.mu.kinds = map[string]*logWindow{}
	return r
}

// emit writes msg at level unless kind has used up its lines in this
// interval; the first line written after some were dropped carries
// "suppressed", their count.
func (r *rateLog) emit(level slog.Level, kind, msg string, args ...any) {
	if !r.log.Enabled(context.Background(), level) {
		return
	}
	suppressed, ok := r.allow(kind, time.Now())
	if !ok {
		return
	}
	if suppressed > 0 {
		args = append(args, "suppressed", suppressed)
	}
	r.log.Log(context.Background(), level, msg, args...)
}

func (r *rateLog) warn(kind, msg string, args ...any) {
	r.emit(slog.LevelWarn, kind, msg, args...)
}

func (r *rateLog) info(kind, msg string, args ...any) {
	r.emit(slog.LevelInfo, kind, msg, args...)
}

func (r *rateLog) allow(kind string, now time.Time) (suppressed int, ok bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	w := r.mu.kinds[kind]
	if w == nil {
		w = &logWindow{start: now}
		r.mu.kinds[kind] = w
	}
	if now.Sub(w.start) >= rateLogInterval {
		w.start, w.n = now, 0
	}
	if w.n >= rateLogBurst {
		w.suppressed++
		return 0, false
	}
	w.n++
	suppressed, w.suppressed = w.suppressed, 0
	return suppressed, true
}
