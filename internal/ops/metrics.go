package ops

import (
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/s3ftpd/s3ftpd/internal/ftp"
)

// Metrics is the Prometheus view of the server (/metrics). It implements
// ftp.Observer for what happens (counters, histograms) and reads what is
// (gauges) from the sources it is given at scrape time. Every metric is
// named s3ftpd_…; README lists them. It has its own registry: no globals.
type Metrics struct {
	reg *prometheus.Registry

	sessionsTotal prometheus.Counter
	logins        *prometheus.CounterVec
	commands      *prometheus.CounterVec
	transferBytes *prometheus.CounterVec
	transfers     *prometheus.CounterVec
	transferTime  *prometheus.HistogramVec
	refused       *prometheus.CounterVec
	s3Requests    *prometheus.CounterVec
	s3Latency     *prometheus.HistogramVec
	partialsSwept *prometheus.CounterVec
	partials      *prometheus.CounterVec

	// The same counts for /status (a counter cannot be read back).
	nSessions, nLoginsOK, nLoginsFailed, nTransfers, nUp, nDown atomic.Int64
}

// Totals are the counts since the process started, for /status.
func (m *Metrics) Totals() Totals {
	return Totals{Sessions: m.nSessions.Load(), LoginsOK: m.nLoginsOK.Load(), LoginsFailed: m.nLoginsFailed.Load(),
		Transfers: m.nTransfers.Load(), BytesUp: m.nUp.Load(), BytesDown: m.nDown.Load()}
}

// Sources are what the gauges read at scrape time; nil ones are left out.
type Sources struct {
	Sessions    func() []ftp.SessionInfo // ftp.Server.Snapshot
	BudgetInUse func() int64             // upload buffer bytes reserved
	BudgetTotal int64
	// Budgets are the buffer budgets by name (upload, download).
	Budgets  func() map[string]*ftp.Budget
	Draining func() bool
}

// NewMetrics builds the metrics with the Go and process collectors.
func NewMetrics(src Sources) *Metrics {
	m := &Metrics{reg: prometheus.NewRegistry()}
	m.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	f := promauto{m.reg}
	m.sessionsTotal = f.counter("s3ftpd_sessions_total", "Control connections served (load balancer health checks excluded).")
	m.logins = f.counterVec("s3ftpd_logins_total", "PASS commands by result (ok, failed).", "result")
	m.commands = f.counterVec("s3ftpd_commands_total", "Commands by verb and reply class (2xx, 4xx, 5xx …); transfers count with their final reply.", "verb", "class")
	m.transferBytes = f.counterVec("s3ftpd_transfer_bytes_total", "Bytes moved on data connections by direction (upload, download, listing).", "direction")
	m.transfers = f.counterVec("s3ftpd_transfers_total", "Data transfers by direction and result (ok, aborted, failed).", "direction", "result")
	m.transferTime = f.histogramVec("s3ftpd_transfer_duration_seconds", "Duration of data transfers.",
		prometheus.ExponentialBuckets(0.005, 4, 10), "direction")
	m.refused = f.counterVec("s3ftpd_data_connections_refused_total", "Data connections refused, by reason.", "reason")
	m.s3Requests = f.counterVec("s3ftpd_s3_requests_total", "S3 operations (with the SDK's retries) by operation and outcome.", "operation", "outcome")
	m.s3Latency = f.histogramVec("s3ftpd_s3_request_duration_seconds", "Duration of S3 operations, retries included.",
		prometheus.ExponentialBuckets(0.001, 3, 11), "operation")
	m.partialsSwept = f.counterVec("s3ftpd_partial_uploads_swept_total", "What the partial-upload janitor did (adopted, completed, expired).", "action")
	m.partials = f.counterVec("s3ftpd_partial_uploads_total", "Interrupted uploads kept as resumable partials (kept) and uploads that continued one (resumed); expired ones are in s3ftpd_partial_uploads_swept_total.", "event")
	m.reg.MustRegister(&snapshotCollector{src: src})
	if src.BudgetInUse != nil {
		m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "s3ftpd_upload_buffer_bytes_in_use",
			Help: "Upload buffer budget reserved now."}, func() float64 { return float64(src.BudgetInUse()) }))
		m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "s3ftpd_upload_buffer_bytes",
			Help: "Upload buffer budget (store.s3.buffer_budget)."}, func() float64 { return float64(src.BudgetTotal) }))
	}
	if src.Budgets != nil {
		m.reg.MustRegister(&budgetCollector{src: src.Budgets})
	}
	if src.Draining != nil {
		m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "s3ftpd_draining",
			Help: "1 once a drain (SIGTERM) has begun."}, func() float64 { return b2f(src.Draining()) }))
	}
	return m
}

// Handler serves the metrics in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

// SessionStarted implements ftp.Observer.
func (m *Metrics) SessionStarted() {
	m.sessionsTotal.Inc()
	m.nSessions.Add(1)
}

// SessionEnded implements ftp.Observer (open sessions come from Snapshot).
func (m *Metrics) SessionEnded() {}

// LoginDone implements ftp.Observer.
func (m *Metrics) LoginDone(ok bool) {
	if ok {
		m.logins.WithLabelValues("ok").Inc()
		m.nLoginsOK.Add(1)
	} else {
		m.logins.WithLabelValues("failed").Inc()
		m.nLoginsFailed.Add(1)
	}
}

// CommandDone implements ftp.Observer.
func (m *Metrics) CommandDone(verb string, code int) {
	m.commands.WithLabelValues(verb, strconv.Itoa(code/100)+"xx").Inc()
}

// TransferDone implements ftp.Observer.
func (m *Metrics) TransferDone(t ftp.TransferStat) {
	dir := direction(t.Verb, t.Upload)
	result := "failed"
	switch {
	case t.Code == 226:
		result = "ok"
	case t.Code == 426:
		result = "aborted"
	}
	m.transferBytes.WithLabelValues(dir).Add(float64(t.Bytes))
	m.nTransfers.Add(1)
	switch dir {
	case "upload":
		m.nUp.Add(t.Bytes)
	case "download":
		m.nDown.Add(t.Bytes)
	}
	m.transfers.WithLabelValues(dir, result).Inc()
	m.transferTime.WithLabelValues(dir).Observe(t.Duration.Seconds())
}

// Refused counts a refused data connection (ftp.PortPool.OnRefused).
func (m *Metrics) Refused(reason string) { m.refused.WithLabelValues(reason).Inc() }

// S3 counts an S3 operation (s3fs.Observe).
func (m *Metrics) S3(operation, outcome string, d time.Duration) {
	m.s3Requests.WithLabelValues(operation, outcome).Inc()
	m.s3Latency.WithLabelValues(operation).Observe(d.Seconds())
}

// Partial counts a partial upload kept or resumed (s3fs Options.Partial).
func (m *Metrics) Partial(event string) { m.partials.WithLabelValues(event).Inc() }

// Swept counts what a janitor sweep did.
func (m *Metrics) Swept(adopted, completed, expired int) {
	m.partialsSwept.WithLabelValues("adopted").Add(float64(adopted))
	m.partialsSwept.WithLabelValues("completed").Add(float64(completed))
	m.partialsSwept.WithLabelValues("expired").Add(float64(expired))
}

func direction(verb string, upload bool) string {
	switch {
	case upload:
		return "upload"
	case verb == "RETR":
		return "download"
	}
	return "listing"
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// snapshotCollector reads the open sessions and transfers at scrape time.
type snapshotCollector struct{ src Sources }

var (
	sessionsDesc = prometheus.NewDesc("s3ftpd_sessions", "Open control connections, by TLS on the control connection.", []string{"tls"}, nil)
	inFlightDesc = prometheus.NewDesc("s3ftpd_transfers_in_flight", "Data transfers running now, by direction.", []string{"direction"}, nil)
)

func (c *snapshotCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- sessionsDesc
	ch <- inFlightDesc
}

func (c *snapshotCollector) Collect(ch chan<- prometheus.Metric) {
	if c.src.Sessions == nil {
		return
	}
	tls := map[bool]int{}
	flight := map[string]int{"upload": 0, "download": 0, "listing": 0}
	for _, s := range c.src.Sessions() {
		tls[s.TLS]++
		if t := s.Transfer; t != nil {
			flight[direction(t.Verb, t.Upload)]++
		}
	}
	ch <- prometheus.MustNewConstMetric(sessionsDesc, prometheus.GaugeValue, float64(tls[true]), "true")
	ch <- prometheus.MustNewConstMetric(sessionsDesc, prometheus.GaugeValue, float64(tls[false]), "false")
	for d, n := range flight {
		ch <- prometheus.MustNewConstMetric(inFlightDesc, prometheus.GaugeValue, float64(n), d)
	}
}

// promauto registers as it builds (like prometheus/promauto, on our own
// registry).
type promauto struct{ reg *prometheus.Registry }

func (p promauto) counter(name, help string) prometheus.Counter {
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: name, Help: help})
	p.reg.MustRegister(c)
	return c
}

func (p promauto) counterVec(name, help string, labels ...string) *prometheus.CounterVec {
	c := prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, labels)
	p.reg.MustRegister(c)
	return c
}

func (p promauto) histogramVec(name, help string, buckets []float64, labels ...string) *prometheus.HistogramVec {
	h := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: name, Help: help, Buckets: buckets}, labels)
	p.reg.MustRegister(h)
	return h
}
