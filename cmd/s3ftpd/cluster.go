package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"os"
	"runtime/debug"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/s3ftpd/s3ftpd/internal/cluster"
	"github.com/s3ftpd/s3ftpd/internal/config"
	"github.com/s3ftpd/s3ftpd/internal/ftp"
)

// newRedis builds the registry's client from cluster.redis.
func newRedis(r config.Redis) redis.UniversalClient {
	o := &redis.UniversalOptions{
		Addrs: r.Addrs, MasterName: r.MasterName, Username: r.Username, Password: r.Password, DB: r.DB,
		// A session never waits long for the registry (cluster.redisTimeout
		// bounds each call too); go-redis retries a failed command once.
		DialTimeout: 2 * time.Second, ReadTimeout: time.Second, WriteTimeout: time.Second, MaxRetries: 1,
		ContextTimeoutEnabled: true,
	}
	if r.TLS {
		o.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	return redis.NewUniversalClient(o)
}

// clusterNode is this process's part of a cluster, as wired.
type clusterNode struct {
	node     *cluster.Node
	registry *cluster.Registry
	rdb      redis.UniversalClient
	relay    net.Listener
	stopRun  context.CancelFunc
	ran      chan struct{}
	left     sync.Once
}

// newClusterNode connects to the registry and opens the relay listener;
// attach then makes the FTP server cluster-aware. onLost is run for a
// lost node (its uploads become resumable); sessions counts this node's.
func newClusterNode(cfg config.Config, sessions func() int, onLost func(context.Context, string) error, log *slog.Logger) (*clusterNode, error) {
	cl := cfg.Cluster
	secret, err := cl.SecretBytes()
	if err != nil {
		return nil, fmt.Errorf("cluster.secret_file: %w", err)
	}
	id := cl.NodeID
	if id == "" {
		if id, err = os.Hostname(); err != nil {
			return nil, fmt.Errorf("cluster.node_id: not set and no host name: %w", err)
		}
	}
	relay, err := net.Listen("tcp", cl.RelayListen)
	if err != nil {
		return nil, fmt.Errorf("cluster.relay_listen: %w", err)
	}
	rdb := newRedis(cl.Redis)
	node, err := cluster.New(cluster.Options{
		NodeID: id, Advertise: cl.AdvertiseAddr(), Secret: secret, Redis: rdb, Prefix: cl.Redis.Prefix,
		ClaimTTL: cfg.Timeouts.DataAccept + 5*time.Second, Version: version(), Sessions: sessions,
		OnNodeLost: onLost, Logger: log,
	})
	if err != nil {
		relay.Close()
		rdb.Close()
		return nil, err
	}
	pctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	if err := rdb.Ping(pctx).Err(); err != nil {
		// Start anyway: a node serves its own data connections without
		// the registry, and recovers by itself when Redis answers.
		log.Error("cluster registry (Redis) unreachable at start; serving this node's own passive connections only until it answers",
			"addrs", cl.Redis.Addrs, "err", err)
	}
	cancel()
	log.Info("joining cluster", "node", id, "instance", node.Instance(), "relay", relay.Addr().String(),
		"advertise", cl.AdvertiseAddr(), "redis", cl.Redis.Addrs)
	return &clusterNode{node: node, rdb: rdb, relay: relay, ran: make(chan struct{})}, nil
}

// attach puts the passive registry and the shared per-IP counts into srv,
// starts the relay listener and the node's announcements.
func (c *clusterNode) attach(pool *ftp.PortPool, srv *ftp.Server) {
	c.registry = cluster.NewRegistry(c.node, pool)
	srv.Passive = c.registry
	srv.Shared = c.node.Counts(time.Minute)
	go c.registry.ServeRelay(c.relay)
	var rctx context.Context
	rctx, c.stopRun = context.WithCancel(context.Background())
	go func() { defer close(c.ran); c.node.Run(rctx) }()
}

// leave waits for relays in flight (other nodes' transfers) until ctx
// ends, then leaves the cluster.
func (c *clusterNode) leave(ctx context.Context) {
	c.left.Do(func() {
		if c.registry != nil {
			c.registry.Shutdown(ctx)
			c.stopRun()
			<-c.ran
		}
		c.relay.Close()
		c.rdb.Close()
	})
}

// version is -ldflags' main.buildVersion, else the module version.
func version() string {
	if buildVersion != "" {
		return buildVersion
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		return bi.Main.Version
	}
	return "dev"
}

// degraded is /readyz's note while Redis is unreachable. The node stays
// ready on purpose: every node shares the one Redis, so failing readiness
// would take the whole cluster out of the load balancer at once, while a
// node without the registry still serves logins, listings, active mode and
// the passive connections that land on it.
func (c *clusterNode) degraded() string {
	if c.node.RegistryDown() {
		return "cluster registry (Redis) unreachable: passive connections that land on another node fail"
	}
	return ""
}
