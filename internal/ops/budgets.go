package ops

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/s3ftpd/s3ftpd/internal/ftp"
)

// budgetCollector reads the buffer budgets (upload, download) at scrape
// time: what they hold, their size, and their long waits and refusals
// (issue #15: a client that holds the budget shows as waits, then
// refusals, of the others).
type budgetCollector struct {
	src func() map[string]*ftp.Budget
}

var (
	budgetInUseDesc = prometheus.NewDesc("s3ftpd_buffer_bytes_in_use",
		"Buffer memory held now, by budget (upload, download).", []string{"budget"}, nil)
	budgetSizeDesc = prometheus.NewDesc("s3ftpd_buffer_bytes",
		"Size of the buffer budget (store.s3.buffer_budget, limits.download_buffers).", []string{"budget"}, nil)
	budgetWaitsDesc = prometheus.NewDesc("s3ftpd_buffer_waits_total",
		"Waits for buffer memory longer than a second.", []string{"budget"}, nil)
	budgetRefusalsDesc = prometheus.NewDesc("s3ftpd_buffer_refusals_total",
		"Transfers refused for want of buffer memory (452 upload, 451 download).", []string{"budget"}, nil)
)

func (c *budgetCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- budgetInUseDesc
	ch <- budgetSizeDesc
	ch <- budgetWaitsDesc
	ch <- budgetRefusalsDesc
}

func (c *budgetCollector) Collect(ch chan<- prometheus.Metric) {
	for name, b := range c.src() {
		if b == nil {
			continue
		}
		ch <- prometheus.MustNewConstMetric(budgetInUseDesc, prometheus.GaugeValue, float64(b.InUse()), name)
		ch <- prometheus.MustNewConstMetric(budgetSizeDesc, prometheus.GaugeValue, float64(b.Size()), name)
		ch <- prometheus.MustNewConstMetric(budgetWaitsDesc, prometheus.CounterValue, float64(b.Waits()), name)
		ch <- prometheus.MustNewConstMetric(budgetRefusalsDesc, prometheus.CounterValue, float64(b.Refusals()), name)
	}
}
