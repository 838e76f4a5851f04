package metrics

import (
	"net/netip"
	"testing"

	dto "github.com/prometheus/client_model/go"

	"github.com/rotary-ftp/rotary/internal/nat"
)

func gather(t *testing.T, g interface {
	Gather() ([]*dto.MetricFamily, error)
}) map[string][]*dto.Metric {
	t.Helper()
	fams, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]*dto.Metric{}
	for _, f := range fams {
		if f.GetHelp() == "" {
			t.Errorf("%s has no HELP", f.GetName())
		}
		out[f.GetName()] = f.Metric
	}
	return out
}

func value(ms []*dto.Metric, labels ...string) float64 {
next:
	for _, m := range ms {
		have := map[string]string{}
		for _, l := range m.Label {
			have[l.GetName()] = l.GetValue()
		}
		for i := 0; i+1 < len(labels); i += 2 {
			if have[labels[i]] != labels[i+1] {
				continue next
			}
		}
		if m.Counter != nil {
			return m.Counter.GetValue()
		}
		return m.Gauge.GetValue()
	}
	return -1
}

// Pool members up and down, their flows and the pool's dial failures come
// from the datapath's statistics.
func TestGatewayPools(t *testing.T) {
	a, b := netip.MustParseAddr("198.18.0.10"), netip.MustParseAddr("198.18.0.11")
	st := nat.Statistics{Static: 2, Dynamic: 5, Hits: 40, Misses: 3, Expired: 1, Listeners: 4, BytesFromClient: 1000, BytesFromInside: 1 << 30, Pools: []nat.PoolStatistics{{
		Name: "ftp", DialFailures: 2, Allocated: 5,
		Members: []nat.MemberStatistics{{Address: a, Up: true, Flows: 5}, {Address: b, Up: false, DownPorts: []uint16{21}}},
	}}}
	g := NewGateway(func() nat.Statistics { return st }, "kernel")
	got := gather(t, g.Registry())
	for _, tc := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"rotary_gateway_info", []string{"datapath", "kernel"}, 1},
		{"rotary_gateway_translations", []string{"kind", "static"}, 2},
		{"rotary_gateway_translations", []string{"kind", "dynamic"}, 5},
		{"rotary_gateway_connections_total", []string{"result", "translated"}, 40},
		{"rotary_gateway_connections_total", []string{"result", "refused"}, 3},
		{"rotary_gateway_flows_expired_total", nil, 1},
		{"rotary_gateway_listeners", nil, 4},
		{"rotary_gateway_bytes_total", []string{"direction", "from_client"}, 1000},
		{"rotary_gateway_bytes_total", []string{"direction", "from_inside"}, 1 << 30},
		{"rotary_gateway_pool_members", []string{"pool", "ftp", "state", "up"}, 1},
		{"rotary_gateway_pool_members", []string{"pool", "ftp", "state", "down"}, 1},
		{"rotary_gateway_pool_member_up", []string{"member", "198.18.0.10"}, 1},
		{"rotary_gateway_pool_member_up", []string{"member", "198.18.0.11"}, 0},
		{"rotary_gateway_pool_member_flows", []string{"member", "198.18.0.10"}, 5},
		{"rotary_gateway_pool_dial_failures_total", []string{"pool", "ftp"}, 2},
	} {
		if v := value(got[tc.name], tc.labels...); v != tc.want {
			t.Errorf("%s%v = %v, want %v", tc.name, tc.labels, v, tc.want)
		}
	}
}
