package storage

import "testing"

func dbgSegs(t *testing.T, l *Log) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	for _, s := range l.mu.segments {
		t.Logf("seg %d size %d open %v closed %v", s.base, s.st.size, s.log.f != nil, s.log.closed)
	}
	t.Logf("open files %d", l.m.files.openFiles())
}
