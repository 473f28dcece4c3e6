package group

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

func rebalances(t *testing.T, reg *prometheus.Registry) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == "eddy_group_rebalances_total" {
			return mf.GetMetric()[0].GetCounter().GetValue()
		}
	}
	t.Fatal("no eddy_group_rebalances_total")
	return 0
}

// TestRebalancesMetric: a classic group's generations and a KIP-848
// group's epoch bumps are counted, each once; a Manager reopened on the
// registry registers again.
func TestRebalancesMetric(t *testing.T) {
	reg := prometheus.NewRegistry()
	dir := t.TempDir()
	e := openEnvWith(t, dir, reg)
	if n := rebalances(t, reg); n != 0 {
		t.Fatalf("%v rebalances before any group", n)
	}
	e.rebalance("classic")
	classic := rebalances(t, reg)
	if classic < 1 {
		t.Fatalf("%v rebalances after a classic group's first generation", classic)
	}
	ms := []*cgMember{{id: "m-a"}, {id: "m-b"}, {id: "m-c"}}
	for _, m := range ms {
		if resp := e.cgHeartbeat("cg", m, true); resp.ErrorCode != 0 {
			t.Fatalf("join %s: %v", m.id, resp.ErrorCode)
		}
	}
	d := e.converge("cg", ms)
	if got, want := rebalances(t, reg), classic+float64(d.Epoch); got != want || d.Epoch < 3 {
		t.Fatalf("%v rebalances after a consumer group reached epoch %d; want %v", got, d.Epoch, want)
	}
	e.close()
	// Replaying the groups is no rebalance.
	e = openEnvWith(t, dir, reg)
	defer e.close()
	if n := rebalances(t, reg); n != 0 {
		t.Fatalf("a reopened Manager starts at %v rebalances", n)
	}
}
