package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/netip"
	"strconv"
	"sync"

	"github.com/redis/go-redis/v9"

	"github.com/s3ftpd/s3ftpd/internal/ftp"
)

// Registry is the cluster's ftp.PassiveProvider. A PASV/EPSV takes a
// local endpoint from this node's PortPool and claims (real client IP,
// port) in Redis with SET NX before the 227/229 goes out, so the port is
// unique per client IP across the cluster (NX fails: the next port). The
// claim names this node, its relay address and a random token, and
// expires after ClaimTTL; it is deleted (compare-and-delete) as soon as
// the data connection is taken or the session gives the endpoint up.
//
// Cost per passive transfer: two Redis round trips on the owner (SET NX,
// then the delete, which does not delay the transfer) and one GET on a
// node that relays. A relayed upload's end of file also costs one
// connection between the two nodes (relay.go), not Redis.
type Registry struct {
	node  *Node
	pool  *ftp.PortPool
	tries int // ports to try: the size of the range

	mu     sync.Mutex
	claims map[endpoint]string // this node's pending claims → token

	nonces  nonces
	rmu     sync.Mutex
	relays  map[net.Conn]struct{}     // relays in flight, both roles
	relayed map[[16]byte]*relayedConn // relayed connections taken here, by nonce (for end-of-file notices)
	closing bool
	// refused rate-limits the refused-connection lines per source: a
	// peer retrying fast must not flood the log.
	refused ftp.LogLimiter
}

type endpoint struct {
	client netip.Addr
	port   int
}

// claim is the value of a pasv key.
type claim struct {
	Instance string `json:"i"`
	Relay    string `json:"r"`
	Token    string `json:"t"`
}

// NewRegistry makes pool cluster-aware: its reservations are claimed in
// Redis, and data connections it holds no reservation for are relayed to
// their owner (pool.Foreign).
func NewRegistry(n *Node, pool *ftp.PortPool) *Registry {
	r := &Registry{node: n, pool: pool, tries: pool.Last - pool.First + 1, claims: map[endpoint]string{}}
	pool.Foreign = r.forward
	pool.OpenAll() // a data connection may come on a port only another node offered
	n.registry = r
	return r
}

func (n *Node) claimCount() int {
	if n.registry == nil {
		return 0
	}
	n.registry.mu.Lock()
	defer n.registry.mu.Unlock()
	return len(n.registry.claims)
}

func (n *Node) pasvKey(ep endpoint) string {
	return n.key("pasv", ep.client.String(), strconv.Itoa(ep.port))
}

// Reserve claims a passive endpoint for client. Ports whose claim another
// node holds stay reserved locally until a free one is found, so that the
// pool offers each port once.
//
// With Redis unreachable the endpoint is this node's alone: a data
// connection that lands here still works, one that lands elsewhere fails.
// Nothing then keeps two nodes from offering one port to one client IP
// (two sessions from behind one NAT), and the node that gets the
// connection would hand it to its own session: a mix-up of two sessions'
// data. So without Redis each node offers only its own share of the range
// (ports whose index modulo the number of live nodes is its place in the
// member list last seen), and no port is pending on two nodes for one IP.
func (r *Registry) Reserve(ctx context.Context, client netip.Addr) (ftp.PassiveListener, error) {
	client = client.Unmap()
	var taken []ftp.PassiveListener
	defer func() {
		for _, pl := range taken {
			pl.Close()
		}
	}()
	for range r.tries {
		pl, err := r.pool.Reserve(ctx, client)
		if err != nil {
			return nil, err
		}
		if r.node.RegistryDown() {
			if !r.node.members.ownsPort(pl.Port() - r.pool.First) {
				taken = append(taken, pl)
				continue
			}
			return &claimed{PassiveListener: pl}, nil
		}
		ep := endpoint{client, pl.Port()}
		c := claim{Instance: r.node.instance, Relay: r.node.o.Advertise, Token: randomHex(16)}
		body, _ := json.Marshal(c)
		rctx, cancel := r.node.rctx(ctx)
		ok, err := r.node.o.Redis.SetNX(rctx, r.node.pasvKey(ep), body, r.node.o.ClaimTTL).Result()
		cancel()
		switch {
		case err != nil:
			r.node.redisFailed("claim passive port", err)
			taken = append(taken, pl) // try again without Redis
			continue
		case !ok:
			taken = append(taken, pl) // another node's client on this IP waits there
			continue
		}
		r.node.redisOK()
		r.mu.Lock()
		r.claims[ep] = c.Token
		r.mu.Unlock()
		return &claimed{PassiveListener: pl, r: r, ep: ep, token: c.Token, value: string(body)}, nil
	}
	r.node.log.Warn("no passive port free for this client across the cluster", "client", client.String(), "ports", r.tries)
	return nil, ftp.ErrNoPassivePort
}

// token is this node's token for a pending claim ("" if none).
func (r *Registry) token(ep endpoint) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.claims[ep]
}

// lookup reads the claim of ep; ok false when nobody claims it.
func (r *Registry) lookup(ctx context.Context, ep endpoint) (c claim, ok bool, err error) {
	if r.node.RegistryDown() {
		return claim{}, false, errRegistryDown
	}
	rctx, cancel := r.node.rctx(ctx)
	defer cancel()
	body, err := r.node.o.Redis.Get(rctx, r.node.pasvKey(ep)).Bytes()
	if errors.Is(err, redis.Nil) {
		r.node.redisOK()
		return claim{}, false, nil
	}
	if err != nil {
		r.node.redisFailed("look up passive claim", err)
		return claim{}, false, err
	}
	r.node.redisOK()
	if err := json.Unmarshal(body, &c); err != nil {
		return claim{}, false, err
	}
	return c, true, nil
}

// claimed is a local endpoint with its claim; the claim goes when the
// connection is taken or the endpoint closed.
type claimed struct {
	ftp.PassiveListener
	r     *Registry // nil: not claimed (Redis was unreachable)
	ep    endpoint
	token string
	value string // the claim as stored, for the compare-and-delete
	once  sync.Once
}

func (c *claimed) Accept(ctx context.Context) (net.Conn, error) {
	conn, err := c.PassiveListener.Accept(ctx)
	if err == nil {
		go c.release()
	}
	return conn, err
}

func (c *claimed) Close() error {
	err := c.PassiveListener.Close()
	c.release()
	return err
}

func (c *claimed) release() {
	if c.r == nil {
		return
	}
	c.once.Do(func() {
		c.r.mu.Lock()
		if c.r.claims[c.ep] == c.token {
			delete(c.r.claims, c.ep)
		}
		c.r.mu.Unlock()
		n := c.r.node
		rctx, cancel := n.rctx(context.Background())
		defer cancel()
		if err := delIfEqual.Run(rctx, n.o.Redis, []string{n.pasvKey(c.ep)}, c.value).Err(); err != nil {
			// It expires after ClaimTTL anyway.
			n.redisFailed("release passive claim", err)
		}
	})
}
