package metrics

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/failoverbot/failoverbot/internal/store"
)

// scrapeTimeout bounds the store read of one scrape.
const scrapeTimeout = 3 * time.Second

var (
	activeDesc = prometheus.NewDesc(Namespace+"_runs_active", "Runs not ended, by state (read from the shared store at the scrape).",
		[]string{"state"}, nil)
	leasesDesc = prometheus.NewDesc(Namespace+"_run_leases_held", "Runs this process executes now: it holds their lease.", nil, nil)
	scrapeDesc = prometheus.NewDesc(Namespace+"_runs_scrape_ok", "1 when the store answered the scrape's read of the active runs.", nil, nil)
)

// runsCollector reads the active runs at each scrape.
type runsCollector struct{ m *Metrics }

func (c *runsCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- activeDesc
	ch <- leasesDesc
	ch <- scrapeDesc
}

func (c *runsCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), scrapeTimeout)
	defer cancel()
	runs, err := c.m.o.ListRuns(ctx, store.ListOptions{States: store.ActiveStates})
	if err != nil {
		ch <- prometheus.MustNewConstMetric(scrapeDesc, prometheus.GaugeValue, 0)
		return
	}
	ch <- prometheus.MustNewConstMetric(scrapeDesc, prometheus.GaugeValue, 1)
	by := map[store.RunState]int{}
	for _, s := range store.ActiveStates {
		by[s] = 0
	}
	held := 0
	owner, now := c.m.o.Owner(), c.m.o.Now()
	for _, r := range runs {
		by[r.State]++
		if owner != "" && r.Owner == owner && r.LeaseUntil.After(now) {
			held++
		}
	}
	for s, n := range by {
		ch <- prometheus.MustNewConstMetric(activeDesc, prometheus.GaugeValue, float64(n), string(s))
	}
	ch <- prometheus.MustNewConstMetric(leasesDesc, prometheus.GaugeValue, float64(held))
}
