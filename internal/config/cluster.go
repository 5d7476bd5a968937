package config

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"reflect"
	"strings"
)

// Cluster makes this node one of several behind a load balancer with no
// stickiness (internal/cluster). No cluster key at all: a single node,
// no Redis.
type Cluster struct {
	// NodeID names the node in logs and `s3ftpd cluster status`; empty:
	// the host name.
	NodeID string `yaml:"node_id"`
	// RelayListen is the internal host:port where this node takes data
	// connections that other nodes relay to it. Reachable from the other
	// nodes only (a firewall's job; every relay is authenticated anyway).
	RelayListen string `yaml:"relay_listen"`
	// Advertise is the host:port the other nodes dial to reach
	// RelayListen; empty: RelayListen (which then needs a specific IP).
	Advertise string `yaml:"advertise"`
	// Secret (at least 16 bytes) or SecretFile (holding it) is shared by
	// all nodes and authenticates relays (HMAC-SHA256). One of them.
	Secret     string `yaml:"secret"`
	SecretFile string `yaml:"secret_file"`
	Redis      Redis  `yaml:"redis"`
}

// Redis is the registry's server, through go-redis's UniversalClient: one
// address is a single server (or Valkey), several are a Redis Cluster,
// and MasterName makes them Sentinels.
type Redis struct {
	Addrs      []string `yaml:"addrs"`
	MasterName string   `yaml:"master_name"`
	Username   string   `yaml:"username"`
	Password   string   `yaml:"password"`
	DB         int      `yaml:"db"`
	// TLS connects with TLS, verifying the server against the system's
	// roots.
	TLS bool `yaml:"tls"`
	// Prefix of every key s3ftpd writes; default "s3ftpd:". Clusters that
	// share a Redis need different prefixes.
	Prefix string `yaml:"prefix"`
}

// Enabled reports whether a cluster is configured (any cluster key set).
func (c Cluster) Enabled() bool { return !reflect.DeepEqual(c, Cluster{}) }

// AdvertiseAddr is Advertise, or RelayListen when that is empty.
func (c Cluster) AdvertiseAddr() string {
	if c.Advertise != "" {
		return c.Advertise
	}
	return c.RelayListen
}

// SecretBytes is Secret, or SecretFile's content without its trailing
// newline.
func (c Cluster) SecretBytes() ([]byte, error) {
	if c.SecretFile == "" {
		return []byte(c.Secret), nil
	}
	b, err := os.ReadFile(c.SecretFile)
	if err != nil {
		return nil, err
	}
	return []byte(strings.TrimRight(string(b), "\r\n")), nil
}

// String hides the secret and the Redis password.
func (c Cluster) String() string {
	if c.Secret != "" {
		c.Secret = redacted
	}
	if c.Redis.Password != "" {
		c.Redis.Password = redacted
	}
	type plain Cluster
	return fmt.Sprintf("%+v", plain(c))
}

// GoString is String, for %#v.
func (c Cluster) GoString() string { return c.String() }

// MinSecret is the shortest accepted cluster secret.
const MinSecret = 16

func (v *validator) cluster(c *Config) {
	cl := c.Cluster
	if !cl.Enabled() {
		return
	}
	if c.UseEmbedded() {
		v.add("cluster", "needs a store every node shares: set store.s3.bucket (the embedded store is one node's own)")
	}
	if len(c.Passive.TrustLBCIDRs) > 0 {
		v.add("passive.trust_lb_cidrs", "cannot be used with cluster: a data connection without a PROXY header does not say which client it is, so no node can find its owner; send PROXY headers on the passive ports instead")
	}
	if strings.ContainsAny(cl.NodeID, "/ \t\n") {
		v.add("cluster.node_id", "%q: no slashes or spaces", cl.NodeID)
	}
	if cl.RelayListen == "" {
		v.add("cluster.relay_listen", "required (host:port of this node's relay listener)")
	} else {
		v.listen("cluster.relay_listen", cl.RelayListen, false)
	}
	if cl.Advertise != "" {
		v.listen("cluster.advertise", cl.Advertise, false)
	}
	if host, port, err := net.SplitHostPort(cl.AdvertiseAddr()); err == nil {
		if ip, err := netip.ParseAddr(host); host == "" || (err == nil && ip.IsUnspecified()) {
			v.add("cluster.advertise", "required when cluster.relay_listen has no specific address (%q): the address other nodes dial", cl.RelayListen)
		} else if port == "0" {
			v.add("cluster.relay_listen", "needs a fixed port, not 0")
		}
	}
	switch {
	case cl.Secret != "" && cl.SecretFile != "":
		v.add("cluster.secret", "set secret or secret_file, not both")
	case cl.Secret == "" && cl.SecretFile == "":
		v.add("cluster.secret", "required (or secret_file): the key every node shares to authenticate relays")
	default:
		s, err := cl.SecretBytes()
		switch {
		case err != nil:
			v.add("cluster.secret_file", "%v", err)
		case len(s) < MinSecret:
			f := "cluster.secret"
			if cl.SecretFile != "" {
				f = "cluster.secret_file"
			}
			v.add(f, "too short: at least %d bytes (e.g. `openssl rand -hex 32`)", MinSecret)
		}
	}
	if len(cl.Redis.Addrs) == 0 {
		v.add("cluster.redis.addrs", "required: one address (a single Redis/Valkey), several (Redis Cluster) or the Sentinels (with master_name)")
	}
	for i, a := range cl.Redis.Addrs {
		v.listen(fmt.Sprintf("cluster.redis.addrs[%d]", i), a, false)
	}
	if cl.Redis.DB < 0 {
		v.add("cluster.redis.db", "must not be negative")
	}
}
