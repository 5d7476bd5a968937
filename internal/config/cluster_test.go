package config

import (
	"os"
	"path/filepath"
	"testing"
)

const clusterBase = `store:
  s3: {bucket: b}
users: [{name: a, password: b}]
`

func TestClusterOff(t *testing.T) {
	if c := mustParse(t, clusterBase); c.Cluster.Enabled() {
		t.Error("no cluster key, yet Enabled")
	}
}

func TestClusterValid(t *testing.T) {
	secret := filepath.Join(t.TempDir(), "secret")
	os.WriteFile(secret, []byte("0123456789abcdef0123\n"), 0o600)
	c := mustParse(t, clusterBase+`cluster:
  node_id: n1
  relay_listen: "0.0.0.0:7000"
  advertise: "10.0.0.5:7000"
  secret_file: `+secret+`
  redis: {addrs: ["10.0.0.9:6379"], db: 2, prefix: "ftp1:"}
`)
	if !c.Cluster.Enabled() || c.Cluster.AdvertiseAddr() != "10.0.0.5:7000" {
		t.Errorf("cluster = %+v", c.Cluster)
	}
	if b, err := c.Cluster.SecretBytes(); err != nil || string(b) != "0123456789abcdef0123" {
		t.Errorf("secret from file = %q, %v (trailing newline must go)", b, err)
	}
	c = mustParse(t, clusterBase+"cluster: {relay_listen: \"10.0.0.5:7000\", secret: 0123456789abcdef, redis: {addrs: [\"r:6379\"]}}\n")
	if c.Cluster.AdvertiseAddr() != "10.0.0.5:7000" {
		t.Errorf("advertise defaults to relay_listen: %q", c.Cluster.AdvertiseAddr())
	}
}

func TestClusterMistakes(t *testing.T) {
	_, err := Parse([]byte(`cluster:
  node_id: "a/b"
  relay_listen: "0.0.0.0:7000"
  secret: short
  redis: {db: -1}
passive:
  trust_lb_cidrs: ["10.0.0.0/8"]
`))
	errs := fieldErrors(t, err)
	wantField(t, errs, "cluster", "store.s3.bucket")
	wantField(t, errs, "passive.trust_lb_cidrs", "cannot be used with cluster")
	wantField(t, errs, "cluster.node_id", "no slashes")
	wantField(t, errs, "cluster.advertise", "required")
	wantField(t, errs, "cluster.secret", "too short")
	wantField(t, errs, "cluster.redis.addrs", "required")
	wantField(t, errs, "cluster.redis.db", "negative")

	_, err = Parse([]byte(clusterBase + "cluster: {relay_listen: \"10.0.0.5:7000\", secret: 0123456789abcdef, secret_file: /x, redis: {addrs: [nope]}}\n"))
	errs = fieldErrors(t, err)
	wantField(t, errs, "cluster.secret", "not both")
	wantField(t, errs, "cluster.redis.addrs[0]", "host:port")

	_, err = Parse([]byte(clusterBase + "cluster: {relay_listen: \"10.0.0.5:7000\", redis: {addrs: [\"r:1\"]}}\n"))
	wantField(t, fieldErrors(t, err), "cluster.secret", "required")
}
