package e2e

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/s3ftpd/s3ftpd/internal/ftp/ftptest"
	"github.com/s3ftpd/s3ftpd/internal/s3fs/s3faults"
)

// A cluster as the tests run it: redis-server, one versitygw process as
// the shared S3 store, three s3ftpd nodes on 127.0.1.1-3 and HAProxy on
// 127.0.1.10 balancing the control port and the passive range round robin
// (no stickiness) with send-proxy-v2 on every connection. Clients bind
// source addresses in 127.0.2.0/24, so each has its own real IP.
const (
	clusterLBIP   = "127.0.1.10"
	clusterSecret = "e2e-cluster-secret-0123456789abcdef"
)

type clusterEnv struct {
	t         *testing.T
	redis     *proc
	redisPort int
	redisDir  string
	s3        string          // endpoint
	faults    *s3faults.Proxy // between the nodes and the store (clusterOptions.faults)
	bucket    string
	nodes     []*clusterNodeProc
	lb        *proc
	Ctrl      string // LB control address
	ctrlPort  int
	pasvFirst int
	certFile  string
}

type clusterNodeProc struct {
	*proc
	id    string
	ip    string
	cfg   string // config path
	relay int
	ops   int // ops.listen port (/healthz, /readyz)
}

type clusterOptions struct {
	nodes      int
	extra      string        // YAML added to every node's config
	dataAccept time.Duration // timeouts.data_accept; default 10s
	stall      time.Duration // timeouts.transfer_stall; default 2m
	faults     bool          // the nodes reach the store through an s3faults proxy (clusterEnv.faults)
}

func startCluster(t *testing.T, o clusterOptions) *clusterEnv {
	t.Helper()
	redisBin := requireTool(t, "redis-server")
	haproxy := requireTool(t, "haproxy")
	if o.nodes == 0 {
		o.nodes = 3
	}
	if o.dataAccept == 0 {
		o.dataAccept = 10 * time.Second
	}
	if o.stall == 0 {
		o.stall = 2 * time.Minute
	}
	e := &clusterEnv{t: t, redisDir: t.TempDir()}
	e.redisPort = freePort(t)
	e.startRedis(redisBin)

	// The shared store.
	e.s3 = startGateway(t, "e2ekey", "e2esecret123")
	e.bucket = "cluster"
	createBucket(t, e.s3, "e2ekey", "e2esecret123", e.bucket)
	nodeS3 := e.s3
	if o.faults {
		p, err := s3faults.Start(e.s3)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(p.Close)
		e.faults, nodeS3 = p, p.URL
	}

	e.certFile, _ = writeCert(t, t.TempDir(), "s3ftpd-cluster")
	keyFile := filepath.Join(filepath.Dir(e.certFile), "key.pem")
	e.ctrlPort = freePort(t)
	e.pasvFirst = ftptest.FreePortRange(t, 10)
	for i := 1; i <= o.nodes; i++ {
		n := &clusterNodeProc{id: fmt.Sprintf("node%d", i), ip: fmt.Sprintf("127.0.1.%d", i), relay: freePort(t), ops: freePort(t)}
		cfg := fmt.Sprintf(`listen: "%s:%d"
passive:
  ports: "%d-%d"
  address: control
proxy_protocol:
  trusted: ["%s/32"]
  required: true
store:
  s3:
    bucket: %s
    endpoint: %q
    region: us-east-1
    path_style: true
    access_key: e2ekey
    secret_key: e2esecret123
    part_size: 5MiB
users:
  - name: demo
    password: demo
tls:
  cert_file: %q
  key_file: %q
timeouts:
  login_fail_delay: 10ms
  data_accept: %s
  transfer_stall: %s
ops:
  listen: "%s:%d"
cluster:
  node_id: %s
  relay_listen: "%s:%d"
  secret: %q
  redis:
    addrs: ["127.0.0.1:%d"]
%s`, n.ip, e.ctrlPort, e.pasvFirst, e.pasvFirst+9, clusterLBIP, e.bucket, nodeS3, e.certFile, keyFile,
			o.dataAccept, o.stall, n.ip, n.ops, n.id, n.ip, n.relay, clusterSecret, e.redisPort, o.extra)
		n.cfg = filepath.Join(t.TempDir(), "s3ftpd.yaml")
		if err := os.WriteFile(n.cfg, []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
		e.startNode(n)
		e.nodes = append(e.nodes, n)
	}
	e.startLB(haproxy)
	return e
}

func (e *clusterEnv) startRedis(bin string) {
	e.redis = startProc(e.t, bin, "--port", strconv.Itoa(e.redisPort), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", e.redisDir)
	e.redis.waitListening(fmt.Sprintf("127.0.0.1:%d", e.redisPort), 20*time.Second)
}

// stopRedis stops redis-server; restartRedis starts it again on its port.
func (e *clusterEnv) stopRedis() { e.redis.stop(syscall.SIGKILL, 10*time.Second) }
func (e *clusterEnv) restartRedis() {
	e.startRedis(requireTool(e.t, "redis-server"))
}

func (e *clusterEnv) startNode(n *clusterNodeProc) {
	n.proc = startProc(e.t, binary, "--config", n.cfg)
	n.name = n.id
	// The control port takes PROXY headers only: wait for the relay port.
	n.waitListening(fmt.Sprintf("%s:%d", n.ip, n.relay), 60*time.Second)
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(n.out.String(), "serving FTP") {
		if time.Now().After(deadline) {
			e.t.Fatalf("%s did not start:\n%s", n.id, n.out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (e *clusterEnv) startLB(haproxy string) {
	var ctrl, pasv strings.Builder
	for _, n := range e.nodes {
		fmt.Fprintf(&ctrl, "  server %s %s:%d send-proxy-v2 check check-send-proxy inter 500ms fall 2 rise 1\n", n.id, n.ip, e.ctrlPort)
		// no port: the connection keeps the port number the client dialled
		fmt.Fprintf(&pasv, "  server %s %s send-proxy-v2\n", n.id, n.ip)
	}
	e.Ctrl = net.JoinHostPort(clusterLBIP, strconv.Itoa(e.ctrlPort))
	cfg := fmt.Sprintf(`global
  maxconn 4000
defaults
  mode tcp
  balance roundrobin
  option redispatch
  retries 2
  timeout connect 2s
  timeout client 5m
  timeout server 5m
  source %s
frontend ftp_control
  bind %s
  default_backend ftp_control
backend ftp_control
%sfrontend ftp_passive
  bind %s:%d-%d
  default_backend ftp_passive
backend ftp_passive
%s`, clusterLBIP, e.Ctrl, ctrl.String(), clusterLBIP, e.pasvFirst, e.pasvFirst+9, pasv.String())
	path := filepath.Join(e.t.TempDir(), "haproxy.cfg")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		e.t.Fatal(err)
	}
	e.lb = startProc(e.t, haproxy, "-db", "-f", path)
	e.lb.waitListening(e.Ctrl, 20*time.Second)
	// Wait until every node passed its health check, or the first
	// sessions all land on one node.
	time.Sleep(1500 * time.Millisecond)
}

// readyz is a node's /readyz status code and body.
func (n *clusterNodeProc) readyz(t *testing.T) (int, string) {
	t.Helper()
	resp, err := http.Get(fmt.Sprintf("http://%s:%d/readyz", n.ip, n.ops))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// logs is every node's output so far.
func (e *clusterEnv) logs() string {
	var b strings.Builder
	for _, n := range e.nodes {
		b.WriteString(n.out.String())
	}
	return b.String()
}

// clientIP is the i-th client source address (127.0.2.1 …).
func clientIP(i int) string { return fmt.Sprintf("127.0.2.%d", 1+i%250) }
