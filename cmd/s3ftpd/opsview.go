package main

import (
	"context"
	"net/http"
	"time"

	"github.com/s3ftpd/s3ftpd/internal/cluster"
	"github.com/s3ftpd/s3ftpd/internal/config"
	"github.com/s3ftpd/s3ftpd/internal/ftp"
	"github.com/s3ftpd/s3ftpd/internal/ops"
)

// opsHandler is what ops.listen serves: /healthz and /readyz for the load
// balancer, /metrics for Prometheus, /status for people.
func opsHandler(cfg config.Config, health *ops.Health, metrics *ops.Metrics, srv *ftp.Server, cnode *clusterNode) http.Handler {
	st := &ops.Status{Node: "s3ftpd", Version: version(), Started: time.Now(), Sessions: srv.Snapshot, Totals: metrics.Totals}
	if cnode != nil {
		st.Node = cnode.node.Instance()
		st.Nodes = func(ctx context.Context) ([]ops.NodeRow, error) {
			members, err := cluster.Status(ctx, cnode.rdb, cfg.Cluster.Redis.Prefix)
			rows := make([]ops.NodeRow, 0, len(members))
			for _, m := range members {
				state := "live"
				if !m.Live {
					state = "lost"
				}
				rows = append(rows, ops.NodeRow{Node: m.Node, State: state, Relay: m.Relay, Version: m.Version,
					Sessions: m.Sessions, PendingPASV: m.Claims, Started: m.Started, Seen: m.Seen})
			}
			return rows, err
		}
	}
	mux := http.NewServeMux()
	mux.Handle("/", health.Handler())
	mux.Handle("GET /metrics", metrics.Handler())
	mux.Handle("GET /status", st)
	return mux
}
