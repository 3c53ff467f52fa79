package daemon

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"phalanx"
	"phalanx/fabric"
)

// metrics are the daemon's Prometheus metrics, on a registry of its own:
// two daemons in one process never share a metric.
type metrics struct {
	reg            *prometheus.Registry
	lines          *prometheus.CounterVec
	events         *prometheus.CounterVec
	alerts         *prometheus.CounterVec
	reportsOut     prometheus.Counter
	publishErrs    prometheus.Counter
	reportsIn      *prometheus.CounterVec
	rejected       *prometheus.CounterVec
	verdicts       *prometheus.CounterVec
	enforce        *prometheus.HistogramVec
	enforceErrs    prometheus.Counter
	lag            *prometheus.GaugeVec
	joins          *prometheus.CounterVec
	repaired       prometheus.Counter
	gapsLost       prometheus.Counter
	digestMismatch prometheus.Counter
	httpCut        *prometheus.CounterVec
}

func newMetrics(d *Daemon) *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		lines: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "phalanx_source_lines_total",
			Help: "Lines read from each tailed log file."}, []string{"source"}),
		events: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "phalanx_parser_events_total",
			Help: "Events recognised, by parser and kind."}, []string{"parser", "kind"}),
		alerts: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "phalanx_scenario_alerts_total",
			Help: "Alerts raised, by scenario."}, []string{"scenario"}),
		reportsOut: prometheus.NewCounter(prometheus.CounterOpts{Name: "phalanx_reports_published_total",
			Help: "Signed reports this member stored on the fabric."}),
		publishErrs: prometheus.NewCounter(prometheus.CounterOpts{Name: "phalanx_report_publish_errors_total",
			Help: "Failed attempts to publish a report (each is retried)."}),
		reportsIn: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "phalanx_reports_received_total",
			Help: "Reports received from the fabric, by member (duplicates excluded)."}, []string{"member"}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "phalanx_reports_rejected_total",
			Help: "Reports rejected or refused, by reason."}, []string{"reason"}),
		verdicts: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "phalanx_arbiter_verdicts_total",
			Help: "The arbiter's verdicts on reports."}, []string{"verdict"}),
		enforce: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "phalanx_enforcement_seconds",
			Help:    "From the line that triggered a self-defense ban (path=self), or from the report's time (path=alliance), or from the sighting that completed a fleet scenario (path=fleet), until the kernel set holds the ban.",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5}},
			[]string{"path"}),
		enforceErrs: prometheus.NewCounter(prometheus.CounterOpts{Name: "phalanx_enforcement_errors_total",
			Help: "Failed enforcer calls."}),
		lag: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "phalanx_fabric_lag_seconds",
			Help: "For the latest report of each member: time received minus time made."}, []string{"member"}),
		joins: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "phalanx_join_requests_total",
			Help: "Join requests this member answered, by result (admitted, refused)."}, []string{"result"}),
		repaired: prometheus.NewCounter(prometheus.CounterOpts{Name: "phalanx_reports_repaired_total",
			Help: "Reports the fabric lost that this member got from their authors' outboxes."}),
		gapsLost: prometheus.NewCounter(prometheus.CounterOpts{Name: "phalanx_reports_unrepaired_total",
			Help: "Reports missing from a member's sequence that could not be repaired within 10 minutes."}),
		digestMismatch: prometheus.NewCounter(prometheus.CounterOpts{Name: "phalanx_digest_mismatches_total",
			Help: "Comparisons with another member that had judged the same reports but held different bans."}),
		httpCut: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "phalanx_http_deadline_exceeded_total",
			Help: "HTTP requests answered 504 because their handler did not answer within its route class's deadline, by class."}, []string{"class"}),
	}
	m.reg.MustRegister(m.lines, m.events, m.alerts, m.reportsOut, m.publishErrs, m.reportsIn, m.rejected,
		m.verdicts, m.enforce, m.enforceErrs, m.lag, m.joins, m.repaired, m.gapsLost, m.digestMismatch, m.httpCut, &decisionCollector{d: d},
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "phalanx_digest_repairs_total",
			Help: "Bans another member held and this member lacked, although both had judged the same reports, that this member's judging the signed reports behind them again restored."},
			func() float64 { return float64(d.ctr.digestRepairs.Load()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "phalanx_digest_unrepaired_total",
			Help: "Such differing bans that judging again did not restore (no signed reports known behind them, authors unreachable, or judged otherwise here)."},
			func() float64 { return float64(d.ctr.digestUnrepaired.Load()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "phalanx_nftables_restores_total",
			Help: "Times the nftables table was found removed or changed from outside (a firewall reload) and restored."},
			func() float64 { return float64(d.ctr.restores.Load()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "phalanx_fabric_healthy",
			Help: "1 while the fabric's health watch sees no problem with the embedded NATS server (JetStream on, no sticky store or Raft error, the stream led), else 0."},
			func() float64 {
				if d.fabricHealth().OK {
					return 1
				}
				return 0
			}),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "phalanx_fabric_restarts_total",
			Help: "Restarts of the embedded NATS server by the fabric's health watch."},
			func() float64 { return float64(d.fabricHealth().Restarts) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "phalanx_fabric_restart_failures_total",
			Help: "Restarts of the embedded NATS server that did not bring it up (retried after a backoff)."},
			func() float64 { return float64(d.fabricHealth().Failed) }),
		fabricNoiseCounter(d, "phalanx_fabric_auth_failures_total",
			"CONNECTs the fabric's server refused (clients, leaf nodes, routes: unknown keys, bad signatures, removed members).",
			func(n fabric.Noise) uint64 { return n.AuthFailures }),
		fabricNoiseCounter(d, "phalanx_fabric_tls_failures_total",
			"Failed or timed-out TLS handshakes on the fabric's ports.",
			func(n fabric.Noise) uint64 { return n.TLSFailures }),
		fabricNoiseCounter(d, "phalanx_fabric_slow_consumers_total",
			"Fabric connections the server found too slow to take what it had to send them.",
			func(n fabric.Noise) uint64 { return n.SlowConsumers }),
		fabricNoiseCounter(d, "phalanx_fabric_permission_violations_total",
			"Publications and subscriptions the fabric's server refused (a member or guest beyond its permissions).",
			func(n fabric.Noise) uint64 { return n.PermissionViolations }),
		fabricNoiseCounter(d, "phalanx_fabric_join_requests_dropped_total",
			"Join requests dropped unanswered (malformed, oversized, or with a reply subject outside the guest's inbox).",
			func(n fabric.Noise) uint64 { return n.JoinRequestsDropped }),
		fabricNoiseCounter(d, "phalanx_fabric_log_lines_suppressed_total",
			"Warnings and errors of the fabric's server that its log rate limit held back.",
			func(n fabric.Noise) uint64 { return n.LinesNotLogged }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "phalanx_forward_auth_allowed_total",
			Help: "Forward-auth requests answered 200."}, func() float64 { return float64(d.faMet.Counts().Allowed) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "phalanx_forward_auth_denied_total",
			Help: "Forward-auth requests answered as banned."}, func() float64 { return float64(d.faMet.Counts().Denied) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "phalanx_forward_auth_bad_headers_total",
			Help: "Forward-auth requests from trusted proxies with malformed or missing client headers."}, func() float64 { return float64(d.faMet.Counts().BadHeader) }),
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m.reg.MustRegister(peerSnapshotMetrics(&d.psnap)...) // peersnapshot.go
	return m
}

// fabricNoiseCounter is a counter of the fabric's noise (fabric.Noise), read
// at scrape time.
func fabricNoiseCounter(d *Daemon, name, help string, field func(fabric.Noise) uint64) prometheus.CounterFunc {
	return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help}, func() float64 {
		if d.fab == nil {
			return 0
		}
		return float64(field(d.fab.Noise()))
	})
}

func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// decisionCollector counts active decisions by origin at scrape time.
type decisionCollector struct{ d *Daemon }

var activeDesc = prometheus.NewDesc("phalanx_decisions_active", "Active decisions, by origin and scope.", []string{"origin", "scope"}, nil)

func (c *decisionCollector) Describe(ch chan<- *prometheus.Desc) { ch <- activeDesc }

func (c *decisionCollector) Collect(ch chan<- prometheus.Metric) {
	type key struct{ origin, scope string }
	counts := map[key]int{}
	now := c.d.now()
	c.d.table.All(func(x phalanx.Decision) bool {
		if x.Active(now) {
			counts[key{string(x.Origin), x.Scope()}]++
		}
		return true
	})
	for _, o := range []phalanx.Origin{phalanx.OriginSelf, phalanx.OriginAlliance, phalanx.OriginManual, phalanx.OriginFeed} {
		for _, s := range []string{"Ip", "Range"} {
			ch <- prometheus.MustNewConstMetric(activeDesc, prometheus.GaugeValue, float64(counts[key{string(o), s}]), string(o), s)
		}
	}
}
