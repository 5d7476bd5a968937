package cluster

import (
	"context"
	"errors"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// Counts implements ftp.SharedCounts: the per-IP and per-user session
// counts and the per-IP failed-login counts of every node together, so that
// a client spread over N nodes by round robin gets no more than against
// one.
//
// Sessions are a hash per IP (and per user) with a field per node instance: a node that
// dies leaves its field behind, but only live members' fields are added
// up, so a lost node's sessions stop counting within seconds. Failed
// logins are one counter per IP whose window starts at the first failure
// (the same fixed window as a single node's).
//
// A session that ends while Redis is unreachable cannot take itself out of
// the count; its -1 is kept and sent once Redis answers again, so an outage
// never leaves an IP counted with sessions it no longer has.
type Counts struct {
	n      *Node
	window time.Duration

	mu      sync.Mutex
	pending map[string]int // session ends not counted yet, by Redis key
}

// Counts returns the node's shared counters with a login-failure window.
func (n *Node) Counts(window time.Duration) *Counts {
	c := &Counts{n: n, window: window, pending: map[string]int{}}
	n.onRecover = append(n.onRecover, c.flush)
	return c
}

// flush sends the session ends kept during an outage.
func (c *Counts) flush(ctx context.Context) {
	c.mu.Lock()
	if len(c.pending) == 0 {
		c.mu.Unlock()
		return
	}
	pending := c.pending
	c.pending = map[string]int{}
	c.mu.Unlock()
	for key, d := range pending {
		_, _ = c.add(ctx, key, d) // kept again if it fails
	}
}

func (c *Counts) keep(key string, delta int) {
	c.mu.Lock()
	c.pending[key] += delta
	c.mu.Unlock()
}

// sessAdd adds ARGV[2] to the instance's field, drops a field at zero,
// keeps the hash a day after its last change and returns it whole.
var sessAdd = redis.NewScript(`
local v = redis.call("HINCRBY", KEYS[1], ARGV[1], ARGV[2])
if v <= 0 then redis.call("HDEL", KEYS[1], ARGV[1]) end
redis.call("PEXPIRE", KEYS[1], 86400000)
return redis.call("HGETALL", KEYS[1])`)

// AddSession implements ftp.SharedCounts.
func (c *Counts) AddSession(ctx context.Context, ip netip.Addr, delta int) (int, error) {
	return c.add(ctx, c.n.key("sess", ip.String()), delta)
}

// AddUserSession implements ftp.SharedCounts.
func (c *Counts) AddUserSession(ctx context.Context, user string, delta int) (int, error) {
	return c.add(ctx, c.n.key("usess", user), delta)
}

// add changes this instance's field of the session hash key by delta and
// returns the live members' total.
func (c *Counts) add(ctx context.Context, key string, delta int) (int, error) {
	n := c.n
	err := errRegistryDown
	var vals []string
	if !n.RegistryDown() {
		rctx, cancel := n.rctx(ctx)
		vals, err = sessAdd.Run(rctx, n.o.Redis, []string{key}, n.instance, delta).StringSlice()
		cancel()
		if err != nil {
			n.redisFailed("count sessions", err)
		}
	}
	if err != nil {
		if delta < 0 {
			c.keep(key, delta)
		}
		return 0, err
	}
	n.redisOK()
	total := 0
	for i := 0; i+1 < len(vals); i += 2 {
		if n.members.isLive(vals[i]) {
			v, _ := strconv.Atoi(vals[i+1])
			total += v
		}
	}
	return total, nil
}

// LoginFailures implements ftp.SharedCounts.
func (c *Counts) LoginFailures(ctx context.Context, ip netip.Addr, add bool) (int, error) {
	n := c.n
	if n.RegistryDown() {
		return 0, errRegistryDown
	}
	rctx, cancel := n.rctx(ctx)
	defer cancel()
	key := n.key("fail", ip.String())
	var v int64
	var err error
	if add {
		var incr *redis.IntCmd
		_, err = n.o.Redis.TxPipelined(rctx, func(p redis.Pipeliner) error {
			incr = p.Incr(rctx, key)
			p.ExpireNX(rctx, key, c.window)
			return nil
		})
		if err == nil {
			v = incr.Val()
		}
	} else {
		v, err = n.o.Redis.Get(rctx, key).Int64()
		if errors.Is(err, redis.Nil) {
			v, err = 0, nil
		}
	}
	if err != nil {
		n.redisFailed("count login failures", err)
		return 0, err
	}
	n.redisOK()
	return int(v), nil
}
