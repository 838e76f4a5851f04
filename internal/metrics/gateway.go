package metrics

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/rotary-ftp/rotary/internal/nat"
)

// Gateway is `rotary gateway`'s metrics: its datapath's statistics, the
// same counts `show ip nat statistics` prints, read when scraped.
type Gateway struct {
	reg *prometheus.Registry
}

// NewGateway returns the metrics of the gateway whose statistics stats
// returns, and whose datapath is named by datapath ("kernel", "userspace").
func NewGateway(stats func() nat.Statistics, datapath string) *Gateway {
	g := &Gateway{reg: prometheus.NewRegistry()}
	info := prometheus.NewGauge(prometheus.GaugeOpts{Name: "rotary_gateway_info",
		Help: "Always 1; the datapath label says which datapath runs the configuration.", ConstLabels: prometheus.Labels{"datapath": datapath}})
	info.Set(1)
	g.reg.MustRegister(info, gatewayCollector{stats},
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return g
}

// Handler serves the metrics in Prometheus's text format.
func (g *Gateway) Handler() http.Handler {
	return promhttp.HandlerFor(g.reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
}

// Registry is the registry the metrics are in.
func (g *Gateway) Registry() *prometheus.Registry { return g.reg }

var (
	descTranslations = prometheus.NewDesc("rotary_gateway_translations",
		"Translations now, by kind: static (configured static maps) and dynamic (live flows, as show ip nat translations lists them).", []string{"kind"}, nil)
	descGwConns = prometheus.NewDesc("rotary_gateway_connections_total",
		"Connections from outside, by result: translated, or refused (denied source, no member up, dial failure, flow limit).", []string{"result"}, nil)
	descExpired = prometheus.NewDesc("rotary_gateway_flows_expired_total",
		"Flows closed by a timer (tcp-timeout, finrst-timeout).", nil, nil)
	descGwBytes = prometheus.NewDesc("rotary_gateway_bytes_total",
		"Bytes carried, by direction: from_client (toward the inside hosts) and from_inside, ended and live flows. Userspace lines count TCP payload as it arrives (TCP_INFO); kernel lines count IP packets, headers included (the nftables table's counters, carried across reloads).", []string{"direction"}, nil)
	descGwListeners = prometheus.NewDesc("rotary_gateway_listeners",
		"Outside addresses and ports the userspace datapath listens on.", nil, nil)
	descMembers = prometheus.NewDesc("rotary_gateway_pool_members",
		"Rotary pool members, by pool and state: up, or down (a health check failed on one of its ports).", []string{"pool", "state"}, nil)
	descMemberUp = prometheus.NewDesc("rotary_gateway_pool_member_up",
		"1 when the pool member passes its health checks, 0 while it is skipped.", []string{"pool", "member"}, nil)
	descMemberFlows = prometheus.NewDesc("rotary_gateway_pool_member_flows",
		"Live flows to the pool member.", []string{"pool", "member"}, nil)
	descDialFailures = prometheus.NewDesc("rotary_gateway_pool_dial_failures_total",
		"Connections to pool members that failed (IOS's misses); the gateway then tries the next member.", []string{"pool"}, nil)
)

type gatewayCollector struct{ stats func() nat.Statistics }

func (c gatewayCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descTranslations, descGwConns, descExpired, descGwBytes, descGwListeners, descMembers, descMemberUp, descMemberFlows, descDialFailures} {
		ch <- d
	}
}

func (c gatewayCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.stats()
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	gauge(descTranslations, float64(st.Static), "static")
	gauge(descTranslations, float64(st.Dynamic), "dynamic")
	counter(descGwConns, st.Hits, "translated")
	counter(descGwConns, st.Misses, "refused")
	counter(descExpired, st.Expired)
	counter(descGwBytes, st.BytesFromClient, "from_client")
	counter(descGwBytes, st.BytesFromInside, "from_inside")
	gauge(descGwListeners, float64(st.Listeners))
	for _, p := range st.Pools {
		up, down := 0, 0
		for _, m := range p.Members {
			v := 0.0
			if m.Up {
				up++
				v = 1
			} else {
				down++
			}
			gauge(descMemberUp, v, p.Name, m.Address.String())
			gauge(descMemberFlows, float64(m.Flows), p.Name, m.Address.String())
		}
		gauge(descMembers, float64(up), p.Name, "up")
		gauge(descMembers, float64(down), p.Name, "down")
		counter(descDialFailures, p.DialFailures, p.Name)
	}
}
