package server

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

var (
	errTooManyConnections      = errors.New("server: max.connections reached")
	errTooManyConnectionsPerIP = errors.New("server: max.connections.per.ip reached")
	errConnectionRate          = errors.New("server: max.connection.creation.rate exceeded")
)

// Limits are the connection limits of a listener, with Kafka's names. A
// zero count or rate means no limit.
type Limits struct {
	MaxConnections      int            // max.connections
	MaxConnectionsPerIP int            // max.connections.per.ip
	PerIPOverrides      map[string]int // max.connections.per.ip.overrides, by IP
	CreationRate        int            // max.connection.creation.rate, per second
}

// ParseIPOverrides parses max.connections.per.ip.overrides: "ip:n,ip:n"
// (an IPv6 address keeps its colons: the count follows the last one).
func ParseIPOverrides(s string) (map[string]int, error) {
	out := map[string]int{}
	for _, e := range strings.Split(s, ",") {
		if e = strings.TrimSpace(e); e == "" {
			continue
		}
		i := strings.LastIndexByte(e, ':')
		if i <= 0 {
			return nil, fmt.Errorf("server: connection override %q: want host:count", e)
		}
		n, err := strconv.Atoi(e[i+1:])
		if err != nil || n < 0 {
			return nil, fmt.Errorf("server: connection override %q: bad count", e)
		}
		out[strings.Trim(e[:i], "[]")] = n
	}
	return out, nil
}

// admitLocked decides whether a new connection from host may stay, and
// counts it if so. The caller holds s.mu.
func (s *Server) admitLocked(host string, now time.Time) error {
	l := s.cfg.Limits
	if l.CreationRate > 0 && !s.mu.rate.take(now, l.CreationRate) {
		return errConnectionRate
	}
	if l.MaxConnections > 0 && len(s.mu.conns) >= l.MaxConnections {
		return errTooManyConnections
	}
	limit, ok := l.PerIPOverrides[host]
	if !ok {
		limit = l.MaxConnectionsPerIP
	}
	if (ok || limit > 0) && s.mu.perIP[host] >= limit {
		return errTooManyConnectionsPerIP
	}
	s.mu.perIP[host]++
	return nil
}

// tokenBucket allows rate events per second with a burst of one second's
// worth.
type tokenBucket struct {
	tokens float64
	last   time.Time
}

func (b *tokenBucket) take(now time.Time, rate int) bool {
	if b.last.IsZero() {
		b.tokens = float64(rate)
	} else {
		b.tokens = min(float64(rate), b.tokens+now.Sub(b.last).Seconds()*float64(rate))
	}
	b.last = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}
