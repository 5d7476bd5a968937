// Package cluster lets several s3ftpd nodes behind one TCP load balancer
// with no stickiness act as one server. Redis (any of a single server,
// Sentinel or Redis Cluster, through go-redis's UniversalClient) holds:
//
//   - the passive registry: which node waits for a data connection from
//     (real client IP, port); a node that receives a data connection it
//     does not own relays it to the owner (registry.go, relay.go);
//   - the members: each node announces itself with a key that expires
//     (members.go), so the others notice when one is gone and make its
//     interrupted uploads resumable at once;
//   - the per-IP counts of the session and login limits (counts.go);
//   - locks, such as "one janitor per prefix" (lock.go).
//
// Everything here is behind small interfaces of internal/ftp (its
// PassiveProvider and SharedCounts), so the protocol core stays free of
// Redis. When Redis is unreachable, sessions keep working: a data
// connection that reaches its own node still works, a relayed one fails
// (425 on the owner's session) and every failure is logged; everything
// recovers when Redis answers again.
//
// Keys (all under Options.Prefix):
//
//	pasv:<ip>:<port>    claim of a pending passive endpoint (JSON), PX
//	node:<instance>     a node's announcement (JSON), PX
//	nodes               sorted set: instance → expiry (unix ms)
//	sess:<ip>           hash: instance → open sessions from ip
//	fail:<ip>           failed logins from ip in the current window, PX
//	lock:<name>         holder instance, PX
package cluster

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// Options configure a node's membership in a cluster.
type Options struct {
	// NodeID names the node in logs and in `s3ftpd cluster status`.
	NodeID string
	// Advertise is the host:port other nodes dial to relay a data
	// connection to this node.
	Advertise string
	// Secret authenticates relay headers between nodes (HMAC-SHA256);
	// every node has the same one.
	Secret []byte
	// Redis is the client (a UniversalClient: single, Sentinel, Cluster).
	Redis redis.UniversalClient
	// Prefix of every key; default "s3ftpd:".
	Prefix string
	// ClaimTTL is how long a passive claim lives: the data-accept timeout
	// plus a margin.
	ClaimTTL time.Duration
	// Version is announced with the node.
	Version string
	// Sessions reports this node's open sessions for its announcement.
	Sessions func() int
	// OnNodeLost is run, on one node of the cluster, for a member whose
	// announcement expired (its instance name): make its interrupted
	// uploads resumable. An error makes it run again later.
	OnNodeLost func(ctx context.Context, instance string) error
	Logger     *slog.Logger
}

// Node is this process's membership in the cluster.
type Node struct {
	o        Options
	instance string // NodeID + "/" + random: unique to this process
	started  time.Time
	log      *slog.Logger

	members  members
	down     downLog
	registry *Registry // set by NewRegistry
	// onRecover run after each announcement Redis took (set before Run),
	// to send what an outage kept back.
	onRecover []func(context.Context)
}

// New returns the node; Run must be started for its announcements.
func New(o Options) (*Node, error) {
	if o.Redis == nil || o.NodeID == "" || o.Advertise == "" || len(o.Secret) == 0 {
		return nil, errors.New("cluster: NodeID, Advertise, Secret and Redis are required")
	}
	if o.Prefix == "" {
		o.Prefix = "s3ftpd:"
	}
	if o.ClaimTTL <= 0 {
		o.ClaimTTL = 35 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Sessions == nil {
		o.Sessions = func() int { return 0 }
	}
	n := &Node{o: o, instance: o.NodeID + "/" + randomHex(4), started: time.Now()}
	n.log = o.Logger.With("node", o.NodeID)
	n.members.self = n.instance
	return n, nil
}

// Instance is this process's unique member name (node id + "/" + random).
func (n *Node) Instance() string { return n.instance }

func (n *Node) key(parts ...string) string {
	k := n.o.Prefix
	for i, p := range parts {
		if i > 0 {
			k += ":"
		}
		k += p
	}
	return k
}

// redisTimeout bounds one Redis round trip on a session's path.
const redisTimeout = 2 * time.Second

func (n *Node) rctx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, redisTimeout)
}

// downLog logs "Redis unreachable" once per outage (and every minute while
// it lasts), and "reachable again" once, instead of a line per request.
type downLog struct {
	mu    sync.Mutex
	down  bool
	since time.Time
	last  time.Time
}

func (n *Node) redisFailed(what string, err error) {
	d := &n.down
	d.mu.Lock()
	now := time.Now()
	first := !d.down
	if first {
		d.down, d.since = true, now
	}
	say := first || now.Sub(d.last) >= time.Minute
	if say {
		d.last = now
	}
	since := d.since
	d.mu.Unlock()
	if say {
		n.log.Error("cluster registry (Redis) unreachable: passive connections that land on another node fail with 425 until it returns",
			"op", what, "err", err, "since", since.Format(time.RFC3339))
	}
}

func (n *Node) redisOK() {
	d := &n.down
	d.mu.Lock()
	was, since := d.down, d.since
	d.down = false
	d.mu.Unlock()
	if was {
		n.log.Info("cluster registry (Redis) reachable again", "down_for", time.Since(since).Round(time.Millisecond))
	}
}

// RegistryDown reports whether the last Redis request failed. While it
// is down, requests on a session's path are not even tried (so that a
// Redis that hangs does not make every PASV and login wait for a timeout):
// the node's announcement, every announceEvery, is the probe that finds it
// back.
func (n *Node) RegistryDown() bool {
	n.down.mu.Lock()
	defer n.down.mu.Unlock()
	return n.down.down
}

// errRegistryDown is returned without asking Redis while it is down.
var errRegistryDown = errors.New("cluster registry (Redis) unreachable")

func randomHex(nbytes int) string { return hex.EncodeToString(randomBytes(nbytes)) }

func randomBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b) // never fails (crypto/rand)
	return b
}
