package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"time"
)

// The cluster part: two s3ftpd nodes in cluster mode with one
// redis-server as their passive registry, on the run's store, each on its
// own loopback IP with the same passive port range. There is no load
// balancer: the client opens its control connection on node A and, after
// PASV, dials the data port on node B's IP instead of A's, as a balancer
// with no stickiness would. B holds no reservation for it, finds the
// owner (A) in Redis and relays the connection to A's relay listener.
// Everything is compared with the same transfer whose data connection
// goes to A itself, in the same run; the PASV latency is compared with a
// third s3ftpd with the same config but no cluster block.
const (
	nodeAIP      = "127.0.0.2"
	nodeBIP      = "127.0.0.3"
	singleIP     = "127.0.0.4"
	clusterPorts = 20
)

// clusterFigures are the figures of the part, for reporting them all as
// failed or skipped when the part cannot run.
func clusterFigures() []struct{ name, target string } {
	return []struct{ name, target string }{
		{"stor_relayed_vs_owner", ">=0.90"},
		{"retr_relayed_vs_owner", ">=0.90"},
		{"stor_relay_cpu_vs_owner", "none"},
		{"retr_relay_cpu_vs_owner", "none"},
		{"registry_cmds_relayed_vs_direct", "none"},
		{"pasv_latency_cluster_vs_single", "none"},
	}
}

// clusterRig is the running cluster.
type clusterRig struct {
	redis        *redisServer
	a, b, single *ftpServer
	storePID     int // the S3 server (versitygw, or the s3ftpd embedding it)
}

// cluster runs the part. srv is the first s3ftpd: with the embedded store
// it serves the store the nodes share, so it must still be running.
func (h *harness) cluster(ctx context.Context, st *s3store, srv *ftpServer) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		if os.Getenv("CI") == "true" {
			h.clusterFailed(errors.New("redis-server is not installed and CI=true (apt-get install redis-server)"))
			return
		}
		for _, f := range clusterFigures() {
			h.rep.skip(f.name, f.target, "not measured: redis-server is not installed (apt-get install redis-server)")
		}
		return
	}
	rig, err := h.startCluster(ctx, st, bin)
	if err != nil {
		h.clusterFailed(fmt.Errorf("start the cluster: %w", err))
		return
	}
	defer rig.stop(h.logf)
	rig.storePID = srv.proc.pid
	if st.proc != nil {
		rig.storePID = st.proc.pid
	}
	h.coldRelay(ctx, rig)
	h.relayThroughput(ctx, rig)
	h.clusterProfile(ctx, rig)
	h.registryCost(ctx, rig)
	h.pasvLatency(ctx, rig)
}

// coldRelay checks that a data connection relayed through a node that has
// offered no passive port itself works (every node listens on the whole
// range: ftp.PortPool.OpenAll). Before that fix, B's kernel refused it.
func (h *harness) coldRelay(ctx context.Context, rig *clusterRig) {
	octx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	const probe = "/cluster/probe.bin"
	if err := h.putSmall(octx, rig.a, probe, 1024); err != nil {
		h.logf("cluster: %v", err)
		return
	}
	sess, err := dialFTPData(octx, rig.a, nodeBIP)
	if err == nil {
		err = ftpRetr(sess, probe, 1024, make([]byte, 4096))
		sess.close()
	}
	if err != nil {
		h.rep.note("Cluster: FAILED: a data connection relayed by a node that has offered no passive port itself: %s", oneLine(err.Error()))
		return
	}
	h.rep.note("Cluster: a data connection relayed by a node that had offered no passive port itself worked.")
}

func (h *harness) clusterFailed(err error) {
	for _, f := range clusterFigures() {
		h.rep.fail(f.name, f.name, f.target, true, err)
	}
}

// startCluster starts redis-server, nodes A and B in cluster mode and the
// single node. On error what was started is stopped.
func (h *harness) startCluster(ctx context.Context, st *s3store, redisBin string) (rig *clusterRig, err error) {
	rig = &clusterRig{}
	defer func() {
		if err != nil {
			rig.stop(h.logf)
		}
	}()
	h.logf("cluster: starting redis-server and two s3ftpd nodes on %s and %s", nodeAIP, nodeBIP)
	if rig.redis, err = h.startRedis(ctx, redisBin); err != nil {
		return rig, err
	}
	first, last, err := passiveRangeOn(clusterPorts, nodeAIP, nodeBIP, singleIP)
	if err != nil {
		return rig, err
	}
	secret := randomHex(16)
	start := func(name, ip string, clustered bool) (*ftpServer, error) {
		port, err := freePortOn(ip)
		if err != nil {
			return nil, err
		}
		nc := nodeConfig{file: name + ".yaml", listen: net.JoinHostPort(ip, strconv.Itoa(port)),
			pasvFirst: first, pasvLast: last, listenIP: ip, withLimits: h.limitsKnown, viaS3: true}
		if clustered {
			relay, err := freePortOn(ip)
			if err != nil {
				return nil, err
			}
			nc.extra = fmt.Sprintf("cluster:\n  node_id: %s\n  relay_listen: \"%s:%d\"\n  secret: %q\n  redis:\n    addrs: [%q]\n",
				name, ip, relay, secret, rig.redis.addr)
		}
		return h.startNode(ctx, st, name, nc)
	}
	if rig.a, err = start("node-a", nodeAIP, true); err != nil {
		return rig, err
	}
	if rig.b, err = start("node-b", nodeBIP, true); err != nil {
		return rig, err
	}
	if rig.single, err = start("single", singleIP, false); err != nil {
		return rig, err
	}
	return rig, nil
}

// stop stops the nodes, then Redis (the nodes leave the cluster in it).
func (rig *clusterRig) stop(logf func(string, ...any)) {
	for _, s := range []*ftpServer{rig.single, rig.b, rig.a} {
		if s != nil {
			if err := s.proc.stop(); err != nil {
				logf("warning: %v", err)
			}
		}
	}
	if rig.redis != nil {
		rig.redis.stop()
	}
}

// startNode starts one s3ftpd with config nc and waits for its greeting.
func (h *harness) startNode(ctx context.Context, st *s3store, name string, nc nodeConfig) (*ftpServer, error) {
	cfg, err := h.s3ftpdConfig(st, nc)
	if err != nil {
		return nil, err
	}
	p, err := h.procs.start(name, nil, h.s3ftpdBin, "--config", cfg)
	if err != nil {
		return nil, err
	}
	if err := waitFTP(ctx, nc.listen, p, 60*time.Second); err != nil {
		_ = p.stop()
		return nil, err
	}
	return &ftpServer{name: name, addr: nc.listen, user: "bench", pass: h.ftpPass, proc: p, base: "/"}, nil
}

// freePortOn returns a free TCP port on ip.
func freePortOn(ip string) (int, error) {
	ln, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}
