package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// Latency mode: s3ftpd and rclone serve ftp reach the store through
// latencyProxy, which adds opt.rtt to every S3 request (a real S3 region is
// 10–30 ms away; the store on loopback answers in about 1 ms). What decides
// how fast a server feels then is how many S3 round trips each FTP command
// waits for, one after the other; the proxy counts them.

// latencySizes are the workload sizes of one mode.
type latencySizes struct {
	mputFiles   int // lftp mput of 4 KiB files
	sizeMdtm    int // SIZE + MDTM pairs
	listObjects int // cold LIST
	browseDirs  int // FileZilla-like browsing: directories
	browseFiles int // files per directory
}

func (o options) latencySizes() latencySizes {
	if o.short {
		return latencySizes{mputFiles: 6, sizeMdtm: 3, listObjects: 40, browseDirs: 2, browseFiles: 5}
	}
	return latencySizes{mputFiles: 60, sizeMdtm: 30, listObjects: 400, browseDirs: 5, browseFiles: 20}
}

// latencyWorkload is one timed workload, run on each server per round.
type latencyWorkload struct {
	name, title, target string
	// run returns the time the workload took (after the login, where the
	// harness logs in itself).
	run func(ctx context.Context, srv *ftpServer, round int) (time.Duration, error)
}

func (h *harness) latency(ctx context.Context, st *s3store) {
	rtt := h.opt.rtt
	proxy, err := startLatencyProxy(st.endpoint, rtt)
	if err != nil {
		h.rep.fail("latency_probe", "latency mode", "none", true, err)
		return
	}
	defer proxy.close()
	via := *st
	via.endpoint = proxy.endpoint()
	port, err := freePort()
	if err == nil {
		var first, last int
		if first, last, err = passiveRange(100); err == nil {
			var srv *ftpServer
			srv, err = h.startNode(ctx, &via, "s3ftpd-latency", nodeConfig{file: "s3ftpd-latency.yaml",
				listen: fmt.Sprintf("127.0.0.1:%d", port), pasvFirst: first, pasvLast: last,
				withLimits: h.limitsKnown, viaS3: true})
			if err == nil {
				srv.name = "s3ftpd"
				defer func() { _ = srv.proc.stop() }()
				off := h.latencyMFMTOff(ctx, &via)
				if off != nil {
					defer func() { _ = off.proc.stop() }()
				}
				h.latencyWith(ctx, st, proxy, srv, h.latencyPeers(ctx, &via), off)
				return
			}
		}
	}
	h.rep.fail("latency_probe", "latency mode", "none", true, fmt.Errorf("start s3ftpd behind the proxy: %w", err))
}

// latencyMFMTOff starts a second s3ftpd behind the proxy with
// uploads.mfmt_max_size: 0 (MFMT refused, no copy), for the mput
// workload; nil when it cannot start (an s3ftpd without that setting).
func (h *harness) latencyMFMTOff(ctx context.Context, via *s3store) *ftpServer {
	port, err := freePort()
	if err != nil {
		return nil
	}
	first, last, err := passiveRange(100)
	if err != nil {
		return nil
	}
	srv, err := h.startNode(ctx, via, "s3ftpd-mfmt-off", nodeConfig{file: "s3ftpd-mfmt-off.yaml",
		listen: fmt.Sprintf("127.0.0.1:%d", port), pasvFirst: first, pasvLast: last,
		withLimits: h.limitsKnown, viaS3: true, extra: "uploads:\n  mfmt_max_size: 0\n"})
	if err != nil {
		h.rep.note("latency mode: s3ftpd with uploads.mfmt_max_size: 0 did not start: %s", firstLineOf(err.Error()))
		return nil
	}
	srv.name = "s3ftpd, mfmt_max_size: 0"
	return srv
}

// latencyPeers starts rclone serve ftp and SFTPGo behind the proxy, those
// that can run (rclone first: the targets are against it).
func (h *harness) latencyPeers(ctx context.Context, via *s3store) []*ftpServer {
	var peers []*ftpServer
	for _, name := range []string{"rclone", "sftpgo"} {
		bin := filepath.Join(h.opt.cacheDir, name)
		if !h.opt.peers || !h.opt.isolated() || !exists(bin) {
			h.rep.note("latency mode: %s not run (needs -peers, the loopback-only namespace (root) and %s)", name, bin)
			continue
		}
		var p *ftpServer
		var err error
		if name == "rclone" {
			p, err = h.startRclone(ctx, bin, via)
		} else {
			p, err = h.startSFTPGoAt(ctx, bin, via, "sftpgo-latency", sftpgoLatencyPasvFirst, sftpgoLatencyPasvFirst+99)
		}
		if err != nil {
			h.rep.note("latency mode: %s failed to start: %s", name, firstLineOf(err.Error()))
			continue
		}
		peers = append(peers, p)
	}
	return peers
}

func (h *harness) latencyWith(ctx context.Context, st *s3store, proxy *latencyProxy, srv *ftpServer, peers []*ftpServer, mfmtOff *ftpServer) {
	servers := append([]*ftpServer{srv}, peers...)
	var rclone *ftpServer
	for _, p := range peers {
		defer func() { _ = p.proc.stop() }()
		if p.name == "rclone" {
			rclone = p
		}
	}
	sz := h.opt.latencySizes()
	rounds := h.opt.rounds
	// Objects put straight into S3 for the listing and browsing workloads,
	// before any server lists their parent
	// (rclone would answer from its cached listing of "/" and not find them).
	for round := range rounds {
		for _, s := range servers {
			base := serverPrefix(s)
			if _, err := h.createObjects(ctx, st, fmt.Sprintf("%slat-list%d/", base, round), sz.listObjects); err != nil {
				h.logf("latency: creating objects: %v", err)
			}
			for d := range sz.browseDirs {
				for f := range sz.browseFiles {
					key := fmt.Sprintf("%slat-browse%d/d%d/f%02d.txt", base, round, d, f)
					if err := sdkPutSmall(ctx, st, key, []byte("x")); err != nil {
						h.logf("latency: %v", err)
					}
				}
			}
		}
	}

	// The per-command table.
	rows := map[string][]probeRow{}
	var names []string
	for _, s := range servers {
		h.logf("latency %v: per-command probe on %s", proxy.rtt, s.name)
		r, err := h.probe(ctx, st, s, proxy, 0)
		if err != nil {
			h.rep.fail("latency_probe_"+s.name, "latency probe on "+s.name, "none", s == srv, err)
			continue
		}
		rows[s.name] = r
		names = append(names, s.name)
		printProbe(h.stdout, s.name, r)
	}

	lftp, _ := exec.LookPath("lftp")
	local, err := h.mputFiles(sz.mputFiles)
	if err != nil {
		h.logf("latency: local files for mput: %v", err)
		lftp = ""
	}
	counts := map[string]map[string][]s3Request{} // workload → server → requests of the last round
	record := func(w, s string, reqs []s3Request) {
		if counts[w] == nil {
			counts[w] = map[string][]s3Request{}
		}
		counts[w][s] = reqs
	}
	workloads := []latencyWorkload{
		{name: "mput", title: fmt.Sprintf("lftp mput of %d × 4 KiB", sz.mputFiles), target: "<=0.50",
			run: func(ctx context.Context, s *ftpServer, round int) (time.Duration, error) {
				if lftp == "" {
					return 0, errors.New("lftp is not installed (apt-get install lftp)")
				}
				t0 := time.Now()
				dir := fmt.Sprintf("/lat-mput%d", round)
				if s == mfmtOff {
					dir = fmt.Sprintf("/lat-mput-mfmt-off%d", round)
				}
				err := h.lftpMput(ctx, lftp, s, local, dir)
				return time.Since(t0), err
			}},
		{name: "size_mdtm", title: fmt.Sprintf("%d × (SIZE + MDTM), fresh session", sz.sizeMdtm), target: "<=0.50",
			run: func(ctx context.Context, s *ftpServer, round int) (time.Duration, error) {
				return h.sizeMdtm(ctx, s, proxy, fmt.Sprintf("/lat-mput%d", round), sz.sizeMdtm, sz.mputFiles)
			}},
		{name: "cold_list", title: fmt.Sprintf("cold LIST of %d objects", sz.listObjects), target: "<=0.10",
			run: func(ctx context.Context, s *ftpServer, round int) (time.Duration, error) {
				return h.coldList(ctx, s, proxy, fmt.Sprintf("/lat-list%d", round))
			}},
		{name: "browse", title: fmt.Sprintf("FileZilla-like browsing of %d directories (CWD, PWD, MLSD, SIZE, MDTM)", sz.browseDirs), target: "<1",
			run: func(ctx context.Context, s *ftpServer, round int) (time.Duration, error) {
				return h.browse(ctx, s, proxy, fmt.Sprintf("/lat-browse%d", round), sz.browseDirs)
			}},
	}
	res := map[string]map[string]*series{}
	for _, w := range workloads {
		res[w.name] = map[string]*series{}
		for _, s := range append(servers, mfmtOff) {
			if s != nil {
				res[w.name][s.name] = &series{}
			}
		}
	}
	for round := range rounds {
		for _, w := range workloads {
			run := servers
			if w.name == "mput" && mfmtOff != nil {
				run = append(slices.Clone(servers), mfmtOff)
			}
			for _, s := range run {
				if ctx.Err() != nil {
					return
				}
				t0 := time.Now()
				d, err := w.run(ctx, s, round)
				proxy.settle(ctx, 3*proxy.rtt+30*time.Millisecond, 5*time.Second)
				record(w.name, s.name, proxy.between(t0, time.Now()))
				h.logf("latency %v round %d/%d: %s on %s: %v %v", proxy.rtt, round+1, rounds, w.name, s.name, d.Round(time.Millisecond), errOrOK(err))
				res[w.name][s.name].add(round, opResult{dur: d, err: err})
			}
		}
	}
	h.latencyReport(proxy.rtt, sz, workloads, servers, res, counts, names, rows)
	if mfmtOff != nil && rclone != nil {
		h.mfmtOffFigure(proxy.rtt, sz, res["mput"][mfmtOff.name], res["mput"][rclone.name], counts["mput"][mfmtOff.name])
	}
}

// mfmtOffFigure reports lftp's mput against an s3ftpd that refuses MFMT
// (uploads.mfmt_max_size: 0): one S3 round trip per file instead of two.
func (h *harness) mfmtOffFigure(rtt time.Duration, sz latencySizes, ours, theirs *series, reqs []s3Request) {
	name := "latency_mput_mfmt_off_vs_rclone"
	title := fmt.Sprintf("%v RTT: lftp mput of %d × 4 KiB, uploads.mfmt_max_size: 0, time vs rclone", rtt, sz.mputFiles)
	if err := firstErr(ours.err(), theirs.err()); err != nil {
		h.rep.fail(name, title, "<=0.50", false, err)
		return
	}
	h.rep.add(figure{name: name, title: title, target: "<=0.50", ratio: 1 / pairedRatio(ours, theirs),
		ours: fmt.Sprintf("%.0f ms", median(durMs(ours))), ref: fmt.Sprintf("rclone %.0f ms", median(durMs(theirs)))})
	h.rep.note("latency mode: lftp mput of %d × 4 KiB into an s3ftpd with uploads.mfmt_max_size: 0 (MFMT answered 504, no copy): %.0f ms median, %d S3 requests (%s) in the last round",
		sz.mputFiles, median(durMs(ours)), len(reqs), opCounts(reqs))
}

func errOrOK(err error) string {
	if err != nil {
		return "FAILED: " + oneLine(err.Error())
	}
	return "ok"
}

func (h *harness) latencyReport(rtt time.Duration, sz latencySizes, workloads []latencyWorkload, servers []*ftpServer,
	res map[string]map[string]*series, counts map[string]map[string][]s3Request, names []string, rows map[string][]probeRow) {
	var trows [][]string
	for _, w := range workloads {
		row := []string{w.title}
		for _, s := range servers {
			sr := res[w.name][s.name]
			if err := sr.err(); err != nil {
				row = append(row, "FAILED: "+oneLine(err.Error()), "")
				continue
			}
			ms := durMs(sr)
			var each []string
			for _, m := range ms {
				each = append(each, fmt.Sprintf("%.0f", m))
			}
			reqs := counts[w.name][s.name]
			row = append(row, fmt.Sprintf("%.0f ms (%s)", median(ms), strings.Join(each, ", ")),
				fmt.Sprintf("%d: %s", len(reqs), opCounts(reqs)))
		}
		trows = append(trows, row)
		if len(servers) < 2 {
			h.rep.skip("latency_"+w.name+"_vs_rclone", w.target, "rclone not run in latency mode")
			continue
		}
		for _, peer := range servers[1:] {
			// The targets are against rclone; SFTPGo is a reference.
			name := "latency_" + w.name + "_vs_" + peer.name
			title := fmt.Sprintf("%v RTT: %s, time vs %s", rtt, w.title, peer.name)
			target := w.target
			if peer.name != "rclone" {
				target = "none"
			}
			ours, theirs := res[w.name][servers[0].name], res[w.name][peer.name]
			if err := firstErr(ours.err(), theirs.err()); err != nil {
				h.rep.fail(name, title, target, false, err)
				continue
			}
			// Time ratio: ours ÷ the peer's (pairedRatio divides the other way).
			h.rep.add(figure{name: name, title: title, target: target, ratio: 1 / pairedRatio(ours, theirs),
				ours: fmt.Sprintf("%.0f ms", median(durMs(ours))), ref: fmt.Sprintf("%s %.0f ms", peer.name, median(durMs(theirs)))})
		}
	}
	head := []string{"workload"}
	for _, s := range servers {
		head = append(head, s.name+": time (median; per round)", s.name+": S3 requests (last round)")
	}
	body := fmt.Sprintf("Every S3 request held %v by the harness's proxy (bench/s3proxy.go) in front of the same store; "+
		"%d rounds, servers interleaved. Ratios in the results table are s3ftpd's time ÷ the peer's (below 1: s3ftpd is faster).\n\n",
		rtt, h.opt.rounds) + table(head, trows) +
		"\n### S3 requests and sequential round trips per FTP command\n\n" +
		"One logged-in session sends one command at a time; the proxy records each request's arrival and the end of its " +
		"answer. *Sequential round trips* is the longest chain of requests each starting after the previous one ended " +
		"(requests in flight together count once); *after the reply* lists what the server did once it had answered.\n\n" +
		probeTable(names, rows)
	h.rep.section(fmt.Sprintf("Latency mode: %v per S3 round trip", rtt), body)
}

func durMs(s *series) []float64 {
	var ms []float64
	for _, r := range s.ok {
		ms = append(ms, float64(r.dur.Milliseconds()))
	}
	return ms
}

// mputFiles writes n 4 KiB files into a local directory for lftp.
func (h *harness) mputFiles(n int) (string, error) {
	dir := filepath.Join(h.work, "mput")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	body := make([]byte, smallSize)
	for i := range n {
		h.pat.fill(body, int64(i)*smallSize)
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("m%03d.bin", i)), body, 0o644); err != nil {
			return "", err
		}
	}
	return dir, nil
}

// lftpMput runs lftp: mkdir dir, cd, mput every local file (lftp sends
// MFMT after each STOR when the server offers it).
func (h *harness) lftpMput(ctx context.Context, lftp string, srv *ftpServer, local, dir string) error {
	cmds := []string{"set net:max-retries 1", "set net:timeout 30", "set cmd:fail-exit yes",
		"set ftp:prefer-epsv no", "set ftp:ssl-allow no", "set ftp:passive-mode yes",
		fmt.Sprintf("open -u %s,%s ftp://%s", srv.user, srv.pass, srv.addr),
		"mkdir " + dir, "cd " + dir, "lcd " + local, "mput *.bin"}
	out, err := runCmd(ctx, 5*time.Minute, nil, local, lftp, "-c", strings.Join(cmds, "; "))
	if err != nil {
		return fmt.Errorf("lftp mput: %v: %s", err, lastLines(out, 3))
	}
	return nil
}

// sizeMdtm: a fresh session asks SIZE and MDTM of n of the files mput
// stored (timed after the login).
func (h *harness) sizeMdtm(ctx context.Context, srv *ftpServer, proxy *latencyProxy, dir string, n, files int) (time.Duration, error) {
	c, err := dialCmd(ctx, srv, proxy)
	if err != nil {
		return 0, err
	}
	defer c.close()
	t0 := time.Now()
	for i := range n {
		f := fmt.Sprintf("%s/m%03d.bin", dir, i%max(files, 1))
		if _, err := c.do("SIZE "+f, 213); err != nil {
			return 0, err
		}
		if _, err := c.do("MDTM "+f, 213); err != nil {
			return 0, err
		}
	}
	return time.Since(t0), nil
}

// coldList: a fresh session lists a directory of objects put straight
// into S3, never seen by the server.
func (h *harness) coldList(ctx context.Context, srv *ftpServer, proxy *latencyProxy, dir string) (time.Duration, error) {
	c, err := dialCmd(ctx, srv, proxy)
	if err != nil {
		return 0, err
	}
	defer c.close()
	t0 := time.Now()
	_, got, err := c.data(ctx, "LIST "+dir, nil)
	if err == nil && len(got) == 0 {
		err = errors.New("LIST: empty listing")
	}
	return time.Since(t0), err
}

// browse is what FileZilla does when a user opens directories one after
// the other: CWD, PWD, MLSD, then SIZE and MDTM of a file before a download.
func (h *harness) browse(ctx context.Context, srv *ftpServer, proxy *latencyProxy, dir string, dirs int) (time.Duration, error) {
	c, err := dialCmd(ctx, srv, proxy)
	if err != nil {
		return 0, err
	}
	defer c.close()
	t0 := time.Now()
	for d := range dirs {
		p := fmt.Sprintf("%s/d%d", dir, d)
		if _, err := c.do("CWD "+p, 250); err != nil {
			return 0, err
		}
		if _, err := c.do("PWD", 257); err != nil {
			return 0, err
		}
		if _, _, err := c.data(ctx, "MLSD", nil); err != nil {
			return 0, err
		}
		if _, err := c.do("SIZE f00.txt", 213); err != nil {
			return 0, err
		}
		if _, err := c.do("MDTM f00.txt", 213); err != nil {
			return 0, err
		}
	}
	return time.Since(t0), nil
}
