package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"sort"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// Membership: every node writes its announcement (a key that expires
// after memberTTL) and its expiry into the "nodes" sorted set every
// announceEvery. A member whose expiry has passed is gone (killed, or cut
// off from Redis): the first node to see it takes the lost-node lock and
// runs Options.OnNodeLost for it (its interrupted uploads become
// resumable), then removes it from the set. A node that shuts down
// cleanly removes itself (Leave).
const (
	announceEvery = 2 * time.Second
	memberTTL     = 6 * time.Second
)

// Announcement is what a node says of itself.
type Announcement struct {
	Node     string    `json:"node"`
	Instance string    `json:"instance"`
	Relay    string    `json:"relay"`
	Version  string    `json:"version"`
	Started  time.Time `json:"started"`
	Sessions int       `json:"sessions"`
	Claims   int       `json:"claims"` // pending passive claims
	Seen     time.Time `json:"seen"`
	// Live is false for a member whose announcement has expired but that
	// no node has cleaned up yet (Status only).
	Live bool `json:"-"`
}

// members is this node's view of who is alive.
type members struct {
	self   string
	mu     sync.Mutex
	live   map[string]bool
	place  int // this node's index among the live members, sorted
	counts int // how many live members
}

// ownsPort reports whether the port with index i of the passive range is
// this node's share while Redis is unreachable (see Registry.Reserve).
func (m *members) ownsPort(i int) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.counts <= 1 || i%m.counts == m.place
}

func (m *members) isLive(instance string) bool {
	if instance == m.self {
		return true
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.live[instance]
}

func (m *members) set(live map[string]bool) {
	names := make([]string, 0, len(live)+1)
	for inst := range live {
		if inst != m.self {
			names = append(names, inst)
		}
	}
	names = append(names, m.self)
	sort.Strings(names)
	m.mu.Lock()
	m.live = live
	m.counts = len(names)
	m.place = sort.SearchStrings(names, m.self)
	m.mu.Unlock()
}

// Run announces the node and watches the others until ctx ends; then the
// node leaves the cluster.
func (n *Node) Run(ctx context.Context) {
	t := time.NewTicker(announceEvery)
	defer t.Stop()
	for {
		n.tick(ctx)
		select {
		case <-ctx.Done():
			lctx, cancel := context.WithTimeout(context.Background(), redisTimeout)
			n.leave(lctx)
			cancel()
			return
		case <-t.C:
		}
	}
}

func (n *Node) tick(ctx context.Context) {
	if err := n.announce(ctx); err != nil {
		n.redisFailed("announce", err)
		return
	}
	lost, err := n.refreshMembers(ctx)
	if err != nil {
		n.redisFailed("members", err)
		return
	}
	n.redisOK()
	for _, f := range n.onRecover {
		f(ctx) // no work unless an outage left some
	}
	for _, inst := range lost {
		n.handleLost(ctx, inst)
	}
}

func (n *Node) announce(ctx context.Context) error {
	now := time.Now()
	a := Announcement{Node: n.o.NodeID, Instance: n.instance, Relay: n.o.Advertise, Version: n.o.Version,
		Started: n.started, Sessions: n.o.Sessions(), Claims: n.claimCount(), Seen: now}
	body, _ := json.Marshal(a)
	ctx, cancel := n.rctx(ctx)
	defer cancel()
	_, err := n.o.Redis.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.Set(ctx, n.key("node", n.instance), body, memberTTL)
		p.ZAdd(ctx, n.key("nodes"), redis.Z{Score: float64(now.Add(memberTTL).UnixMilli()), Member: n.instance})
		return nil
	})
	return err
}

// refreshMembers reads the member set: live ones are remembered, expired
// ones returned.
func (n *Node) refreshMembers(ctx context.Context) (lost []string, err error) {
	ctx, cancel := n.rctx(ctx)
	defer cancel()
	zs, err := n.o.Redis.ZRangeWithScores(ctx, n.key("nodes"), 0, -1).Result()
	if err != nil {
		return nil, err
	}
	now := float64(time.Now().UnixMilli())
	live := map[string]bool{}
	for _, z := range zs {
		inst, _ := z.Member.(string)
		if z.Score >= now {
			live[inst] = true
		} else if inst != n.instance {
			lost = append(lost, inst)
		}
	}
	n.members.set(live)
	return lost, nil
}

// handleLost runs OnNodeLost for a member that is gone, on one node only.
func (n *Node) handleLost(ctx context.Context, inst string) {
	unlock, ok, err := n.TryLock(ctx, "lost:"+inst, time.Minute)
	if err != nil || !ok {
		return
	}
	defer unlock()
	n.log.Warn("cluster node lost: its announcement expired", "lost", inst)
	if n.o.OnNodeLost != nil {
		if err := n.o.OnNodeLost(ctx, inst); err != nil {
			n.log.Warn("cluster node lost: recovery failed; retrying", "lost", inst, "err", err)
			return
		}
	}
	rctx, cancel := n.rctx(ctx)
	defer cancel()
	n.o.Redis.ZRem(rctx, n.key("nodes"), inst)
}

func (n *Node) leave(ctx context.Context) {
	_, err := n.o.Redis.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.ZRem(ctx, n.key("nodes"), n.instance)
		p.Del(ctx, n.key("node", n.instance))
		return nil
	})
	if err != nil {
		n.log.Warn("cluster: could not leave cleanly; the others will notice in seconds", "err", err)
	}
}

// Status lists the members, live first, by node id.
func Status(ctx context.Context, rdb redis.UniversalClient, prefix string) ([]Announcement, error) {
	if prefix == "" {
		prefix = "s3ftpd:"
	}
	zs, err := rdb.ZRangeWithScores(ctx, prefix+"nodes", 0, -1).Result()
	if err != nil {
		return nil, err
	}
	now := float64(time.Now().UnixMilli())
	var out []Announcement
	for _, z := range zs {
		inst, _ := z.Member.(string)
		a := Announcement{Instance: inst, Live: z.Score >= now}
		body, err := rdb.Get(ctx, prefix+"node:"+inst).Bytes()
		switch {
		case err == nil:
			_ = json.Unmarshal(body, &a)
			a.Live = z.Score >= now
		case errors.Is(err, redis.Nil):
			a.Node = inst
		default:
			return nil, err
		}
		out = append(out, a)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Live != out[j].Live {
			return out[i].Live
		}
		return out[i].Node+out[i].Instance < out[j].Node+out[j].Instance
	})
	return out, nil
}
