package main

import (
	"context"
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"
	"time"
)

// registryCost counts the Redis commands of a passive transfer: INFO
// commandstats before and after n RETRs of a small file with the data
// connection to A, then n with it to B (relayed), from one logged-in
// session. The nodes' own background traffic (announcements every 2 s)
// is measured over an idle window as long as the longer of the two and
// subtracted in proportion to each window's length.
func (h *harness) registryCost(ctx context.Context, rig *clusterRig) {
	n := 500
	if h.opt.short {
		n = 40
	}
	const name, title = "registry_cmds_relayed_vs_direct", "Redis commands per passive transfer, relayed vs on its owner"
	fail := func(err error) { h.rep.fail(name, title, "none", true, err) }
	const file, size = "/cluster/small.bin", 4 << 10
	octx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	if err := h.putSmall(octx, rig.a, file, size); err != nil {
		fail(err)
		return
	}
	buf := make([]byte, 64<<10)
	type window struct {
		calls commandCalls
		dur   time.Duration
	}
	measure := func(dataHost string) (window, error) {
		sess, err := dialFTPData(octx, rig.a, dataHost)
		if err != nil {
			return window{}, err
		}
		defer sess.close()
		before, err := rig.redis.commandStats(octx)
		if err != nil {
			return window{}, err
		}
		t0 := time.Now()
		for range n {
			if err := ftpRetr(sess, file, size, buf); err != nil {
				return window{}, err
			}
		}
		dur := time.Since(t0)
		after, err := rig.redis.commandStats(octx)
		return window{after.minus(before), dur}, err
	}
	h.logf("cluster: %d small RETRs with the data connection to A, then %d to B, counting Redis commands", n, n)
	direct, err := measure("")
	if err != nil {
		fail(fmt.Errorf("direct RETRs: %w", err))
		return
	}
	relayed, err := measure(nodeBIP)
	if err != nil {
		fail(fmt.Errorf("relayed RETRs: %w", err))
		return
	}
	idleDur := min(max(direct.dur, relayed.dur, 4*time.Second), 30*time.Second)
	h.logf("cluster: %v idle, for the nodes' background Redis traffic", idleDur.Round(time.Millisecond))
	before, err := rig.redis.commandStats(octx)
	if err != nil {
		fail(err)
		return
	}
	t0 := time.Now()
	select {
	case <-octx.Done():
		fail(octx.Err())
		return
	case <-time.After(idleDur):
	}
	after, err := rig.redis.commandStats(octx)
	if err != nil {
		fail(err)
		return
	}
	idle := window{after.minus(before), time.Since(t0)}

	// perTransfer is a window's calls net of the background, ÷ n.
	perTransfer := func(w window) map[string]float64 {
		out := map[string]float64{}
		for cmd := range joinKeys(w.calls, idle.calls) {
			bg := float64(idle.calls[cmd]) * w.dur.Seconds() / idle.dur.Seconds()
			// Rounded at 0.005: a background-only command is 0, not -0.00.
			v := math.Round((float64(w.calls[cmd])-bg)/float64(n)*200) / 200
			if v == 0 {
				v = 0 // not -0
			}
			out[cmd] = v
		}
		return out
	}
	d, r := perTransfer(direct), perTransfer(relayed)
	sum := func(m map[string]float64) float64 {
		t := 0.0
		for _, v := range m {
			t += v
		}
		return t
	}
	h.rep.add(figure{name: name, title: title, core: true, target: "none", ratio: sum(r) / sum(d),
		ours: fmt.Sprintf("%.2f per relayed transfer (%s)", sum(r), callsText(r)),
		ref:  fmt.Sprintf("%.2f per transfer on its owner (%s)", sum(d), callsText(d))})

	var rows [][]string
	for _, cmd := range slices.Sorted(maps.Keys(joinKeys(direct.calls, relayed.calls, idle.calls))) {
		rows = append(rows, []string{cmd, fmt.Sprintf("%.2f", d[cmd]), fmt.Sprintf("%.2f", r[cmd]),
			fmt.Sprintf("%d / %d / %d", direct.calls[cmd], relayed.calls[cmd], idle.calls[cmd]),
			fmt.Sprintf("%.2f", float64(idle.calls[cmd])/idle.dur.Seconds())})
	}
	body := table([]string{"Redis command", "per transfer on its owner", "per relayed transfer",
		"calls: direct / relayed / idle window", "background calls/s (idle)"}, rows)
	body += fmt.Sprintf("\n`INFO commandstats` deltas over %d RETRs of a 4 KiB file from one logged-in session on node A "+
		"(PASV, RETR, 226 each), with the data connection to A (%v in all), then to B (%v), then an idle window of %v. "+
		"A window's calls minus the idle rate × its length, ÷ %d, give the per-transfer columns. Redis counts the "+
		"commands a Lua script runs (`get`, `del` inside the compare-and-delete `evalsha`) as well as the `evalsha` "+
		"itself: a round trip to Redis is one `set`, `evalsha` or top-level `get`.\n",
		n, direct.dur.Round(time.Millisecond), relayed.dur.Round(time.Millisecond), idle.dur.Round(time.Millisecond), n)
	h.rep.section("Cluster: Redis commands per passive transfer", body)
}

// putSmall stores size payload bytes at file through s.
func (h *harness) putSmall(ctx context.Context, s *ftpServer, file string, size int64) error {
	sess, err := dialFTP(ctx, s)
	if err != nil {
		return err
	}
	defer sess.close()
	return ftpStor(sess, h.pat, file, size)
}

func joinKeys(ms ...commandCalls) map[string]bool {
	out := map[string]bool{}
	for _, m := range ms {
		for k := range m {
			out[k] = true
		}
	}
	return out
}

// callsText lists the commands of at least 0.05 per transfer.
func callsText(m map[string]float64) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		if m[k] >= 0.05 {
			parts = append(parts, fmt.Sprintf("%s %.2f", k, m[k]))
		}
	}
	return strings.Join(parts, ", ")
}

// pasvLatency times PASV → 227 on node A (which claims the endpoint in
// Redis before answering) and on the single node (no cluster block),
// alternating between them; each PASV is followed by ABOR (225), which
// gives the endpoint up, untimed.
func (h *harness) pasvLatency(ctx context.Context, rig *clusterRig) {
	m := 1000
	if h.opt.short {
		m = 100
	}
	const name, title = "pasv_latency_cluster_vs_single", "PASV→227 latency (median), cluster node vs single node"
	fail := func(err error) { h.rep.fail(name, title, "none", true, err) }
	octx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	servers := []*ftpServer{rig.a, rig.single}
	conns := make([]*rawConn, len(servers))
	for i, s := range servers {
		c, err := rawLogin(octx, s.addr, nil, s.user, s.pass)
		if err != nil {
			fail(fmt.Errorf("%s: %w", s.name, err))
			return
		}
		defer c.close()
		_ = c.c.SetDeadline(time.Now().Add(4 * time.Minute))
		conns[i] = c
	}
	h.logf("cluster: %d PASV round trips on node A and on the single node, alternating", m)
	lat := make([][]float64, len(servers)) // µs
	for i := range m {
		for k := range servers {
			j := (k + i) % len(servers)
			t0 := time.Now()
			if _, err := conns[j].pasv(); err != nil {
				fail(fmt.Errorf("%s: %w", servers[j].name, err))
				return
			}
			lat[j] = append(lat[j], float64(time.Since(t0).Microseconds()))
			if _, err := conns[j].cmd(225, "ABOR"); err != nil {
				fail(fmt.Errorf("%s: %w", servers[j].name, err))
				return
			}
		}
	}
	cl, single := median(lat[0]), median(lat[1])
	h.rep.add(figure{name: name, title: title, core: true, target: "none", ratio: cl / max(single, 1),
		ours: fmt.Sprintf("%.0f µs (p90 %.0f)", cl, percentile(lat[0], 0.9)),
		ref:  fmt.Sprintf("single node %.0f µs (p90 %.0f)", single, percentile(lat[1], 0.9))})
	h.rep.section("Cluster: PASV latency", fmt.Sprintf("%d PASV commands on each of node A (cluster: the endpoint is "+
		"claimed in Redis with SET NX before the 227) and a third s3ftpd with the same config and no `cluster:` "+
		"block, alternating, from one logged-in raw control connection each; time from sending PASV to reading the "+
		"227. Each PASV is followed by an untimed ABOR (225) that gives the endpoint up (on node A a "+
		"compare-and-delete in Redis). Median %.0f µs vs %.0f µs, 90th percentile %.0f µs vs %.0f µs.\n",
		m, cl, single, percentile(lat[0], 0.9), percentile(lat[1], 0.9)))
}

// percentile is the p-quantile (nearest rank) of v.
func percentile(v []float64, p float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Sorted(slices.Values(v))
	return s[min(len(s)-1, int(p*float64(len(s))))]
}
