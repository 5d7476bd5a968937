package main

import (
	"context"
	"fmt"
	"math"
	"os"
	"slices"
	"strings"
	"sync"
	"time"
)

// mover is something that moves bytes to and from the store: the SDK
// directly (srv nil) or an FTP server.
type mover struct {
	name string
	srv  *ftpServer
}

func (m mover) label() string {
	switch m.name {
	case "sdk":
		return "direct SDK"
	case "vsftpd":
		return "vsftpd (local disk)"
	case "rclone":
		return "rclone serve ftp"
	case noembedName:
		return "s3ftpd -tags noembed"
	case "sftpgo":
		return "SFTPGo"
	}
	return m.name
}

// opResult is one timed operation and the CPU time the processes spent
// meanwhile, by role: "server" (the FTP server), "store" (a separate S3
// server process) and "client" (the harness).
type opResult struct {
	dur time.Duration
	cpu map[string]time.Duration
	err error
}

// timed runs op and measures its duration and the CPU of the roles; after
// (may be nil) then ends the FTP sessions. The CPU is read before that,
// while vsftpd's per-session processes still live.
func (h *harness) timed(st *s3store, m mover, op func() error, after func()) opResult {
	pids := map[string]int{"client": os.Getpid()}
	if st.proc != nil {
		pids["store"] = st.proc.pid
	}
	if m.srv != nil {
		pids["server"] = m.srv.proc.pid
	}
	meter := newCPUMeter(pids)
	t0 := time.Now()
	err := op()
	dur := time.Since(t0)
	cpu := meter.since()
	if after != nil {
		after()
	}
	return opResult{dur: dur, cpu: cpu, err: err}
}

// series is the results of one mover in one direction over the rounds.
type series struct {
	ok     []opResult
	rounds []int // the round of each ok result
	errs   []error
}

func (s *series) add(round int, r opResult) {
	if r.err != nil {
		s.errs = append(s.errs, r.err)
		return
	}
	s.ok = append(s.ok, r)
	s.rounds = append(s.rounds, round)
}

// rates returns the per-round rate (units/second) of the successful runs.
func (s *series) rates(units float64) []float64 {
	var out []float64
	for _, r := range s.ok {
		out = append(out, units/r.dur.Seconds())
	}
	return out
}

// pairedRatio is the median over the rounds where both succeeded of
// a's rate ÷ b's rate. Both ran back to back in each round, so a drift of
// the machine's speed between rounds cancels out.
func pairedRatio(a, b *series) float64 {
	bt := map[int]time.Duration{}
	for i, r := range b.ok {
		bt[b.rounds[i]] = r.dur
	}
	var ratios []float64
	for i, r := range a.ok {
		if d, ok := bt[a.rounds[i]]; ok {
			ratios = append(ratios, d.Seconds()/r.dur.Seconds())
		}
	}
	if len(ratios) == 0 {
		return math.NaN()
	}
	return median(ratios)
}

// cpuPerUnit sums a role's CPU over the runs, ÷ units moved in total.
func (s *series) cpuPerUnit(role string, unitsPerRun float64) (float64, bool) {
	var total time.Duration
	found := false
	for _, r := range s.ok {
		if c, ok := r.cpu[role]; ok {
			total += c
			found = true
		}
	}
	if !found || len(s.ok) == 0 {
		return 0, false
	}
	return total.Seconds() / (unitsPerRun * float64(len(s.ok))), true
}

func (s *series) err() error {
	if len(s.ok) > 0 || len(s.errs) == 0 {
		return nil
	}
	return s.errs[0]
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func mib(n int64) float64 { return float64(n) / (1 << 20) }

func sizeText(n int64) string {
	if n >= 1<<30 && n%(1<<30) == 0 {
		return fmt.Sprintf("%d GiB", n>>30)
	}
	return fmt.Sprintf("%d MiB", n>>20)
}

// opTimeout bounds one transfer of n bytes: at 5 MiB/s, plus 2 minutes.
func opTimeout(n int64) time.Duration {
	return time.Duration(mib(n)/5)*time.Second + 2*time.Minute
}

// memPeak is the upload memory figure of one server.
type memPeak struct {
	idle, peak, sampled int64
	resetOK             bool
}

// measurePeak runs op while watching pid's memory: idle RSS before, VmHWM
// (reset just before) after, and a 50 ms RSS sampler as a cross-check.
func measurePeak(pid int, op func() opResult) (opResult, memPeak, error) {
	var mp memPeak
	m0, err := readMem(pid)
	if err != nil {
		return op(), mp, err
	}
	mp.idle = m0.RSS
	mp.resetOK = resetPeak(pid) == nil
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(50 * time.Millisecond)
		defer t.Stop()
		for {
			if m, err := readMem(pid); err == nil {
				mp.sampled = max(mp.sampled, m.RSS)
			}
			select {
			case <-stop:
				return
			case <-t.C:
			}
		}
	}()
	r := op()
	close(stop)
	wg.Wait()
	m1, err := readMem(pid)
	if err != nil {
		return r, mp, err
	}
	mp.peak = max(m1.HWM, mp.sampled)
	return r, mp, nil
}

// throughput: STOR/RETR of opt.bigSize through every mover, interleaved
// round by round; the first s3ftpd (and rclone) STOR also gives the upload
// memory figure.
func (h *harness) throughput(ctx context.Context, st *s3store, srv *ftpServer, peers []*ftpServer) {
	size := h.opt.bigSize
	movers := []mover{{name: "sdk"}, {name: "s3ftpd", srv: srv}}
	for _, p := range peers {
		movers = append(movers, mover{name: p.name, srv: p})
	}
	for _, m := range movers[1:] {
		if err := mkdirs(ctx, m.srv, m.srv.base+"big"); err != nil {
			h.logf("mkdir on %s: %v", m.name, err)
		}
	}
	put := map[string]*series{}
	get := map[string]*series{}
	peaks := map[string]memPeak{}
	for _, m := range movers {
		put[m.name], get[m.name] = &series{}, &series{}
	}
	buf := make([]byte, 1<<20)
	path := func(m mover, round int) string { return fmt.Sprintf("%sbig/r%d.bin", m.srv.base, round) }
	sdkKey := func(round int) string { return fmt.Sprintf("sdk/big/r%d.bin", round) }

	// Warm the store up (its first writes are slower) with an untimed SDK
	// upload and download; s3ftpd itself stays fresh for the memory figure.
	warm := min(size, 256<<20)
	if err := sdkPut(ctx, st, h.pat, "sdk/warmup.bin", warm); err == nil {
		_ = sdkGet(ctx, st, "sdk/warmup.bin", warm, buf)
		st.deleteKey(ctx, "sdk/warmup.bin")
	}
	for round := range h.opt.rounds {
		if ctx.Err() != nil {
			break
		}
		for _, m := range movers {
			h.logf("round %d/%d: %s upload of %s", round+1, h.opt.rounds, m.label(), sizeText(size))
			octx, cancel := context.WithTimeout(ctx, opTimeout(size))
			op := func() opResult {
				sess, after, err := h.session(octx, m)
				if err != nil {
					return opResult{err: err}
				}
				return h.timed(st, m, func() error {
					if m.srv == nil {
						return sdkPut(octx, st, h.pat, sdkKey(round), size)
					}
					return ftpStor(sess, h.pat, path(m, round), size)
				}, after)
			}
			var r opResult
			if round == 0 && m.srv != nil && m.name != "vsftpd" {
				var mp memPeak
				var err error
				r, mp, err = measurePeak(m.srv.proc.pid, op)
				if err == nil && r.err == nil {
					peaks[m.name] = mp
				}
			} else {
				r = op()
			}
			cancel()
			put[m.name].add(round, r)
			h.logOp(m, "upload", size, r)
		}
		for _, m := range movers {
			h.logf("round %d/%d: %s download of %s", round+1, h.opt.rounds, m.label(), sizeText(size))
			octx, cancel := context.WithTimeout(ctx, opTimeout(size))
			sess, after, err := h.session(octx, m)
			r := opResult{err: err}
			if err == nil {
				r = h.timed(st, m, func() error {
					if m.srv == nil {
						return sdkGet(octx, st, sdkKey(round), size, buf)
					}
					return ftpRetr(sess, path(m, round), size, buf)
				}, after)
			}
			cancel()
			get[m.name].add(round, r)
			h.logOp(m, "download", size, r)
		}
		// Free the space before the next round (10 GiB objects with -long).
		for _, m := range movers {
			if m.srv == nil {
				st.deleteKey(ctx, sdkKey(round))
				continue
			}
			if c, err := dialFTP(ctx, m.srv); err == nil {
				_ = c.Delete(path(m, round))
				c.close()
			}
		}
	}
	h.throughputFigures(size, movers, put, get, peaks)
}

// session logs in to m's server (nil for the SDK) before the clock
// starts; after ends it.
func (h *harness) session(ctx context.Context, m mover) (*ftpSession, func(), error) {
	if m.srv == nil {
		return nil, nil, nil
	}
	c, err := dialFTP(ctx, m.srv)
	if err != nil {
		return nil, nil, err
	}
	return c, c.close, nil
}

func (h *harness) logOp(m mover, what string, size int64, r opResult) {
	if r.err != nil {
		h.logf("  %s %s failed: %v", m.label(), what, r.err)
		return
	}
	h.logf("  %s %s: %.0f MiB/s in %v (server CPU %v, store CPU %v)", m.label(), what,
		mib(size)/r.dur.Seconds(), r.dur.Round(time.Millisecond), r.cpu["server"], r.cpu["store"])
}

func (h *harness) throughputFigures(size int64, movers []mover, put, get map[string]*series, peaks map[string]memPeak) {
	sz := sizeText(size)
	unitMiB := mib(size)
	gib := float64(size) / (1 << 30)
	type dir struct {
		key, verb, sdkVerb string
		s                  map[string]*series
	}
	dirs := []dir{{"stor", "STOR", "multipart PUT", put}, {"retr", "RETR", "GetObject", get}}
	for _, d := range dirs {
		ours := d.s["s3ftpd"]
		sdk := d.s["sdk"]
		name := d.key + "_throughput_vs_sdk"
		title := fmt.Sprintf("%s %s throughput vs direct SDK", d.verb, sz)
		if err := firstErr(ours.err(), sdk.err()); err != nil {
			h.rep.fail(name, title, ">=0.95", true, err)
			continue
		}
		o, b := median(ours.rates(unitMiB)), median(sdk.rates(unitMiB))
		h.rep.add(figure{name: name, title: title, core: true, target: ">=0.95", ratio: pairedRatio(ours, sdk),
			ours: fmt.Sprintf("%.0f MiB/s", o), ref: fmt.Sprintf("SDK %s %.0f MiB/s", d.sdkVerb, b)})
	}
	// Memory during the first (streamed) upload.
	if mp, ok := peaks["s3ftpd"]; ok {
		over := mp.peak - mp.idle
		h.rep.add(figure{name: "upload_peak_rss_vs_64mib", title: fmt.Sprintf("peak RSS above idle during a %s STOR", sz),
			core: true, target: "<1", ratio: max(mib(over), 0.01) / 64,
			ours: fmt.Sprintf("%.1f MiB (idle %.1f, peak %.1f)", mib(over), mib(mp.idle), mib(mp.peak)),
			ref:  "budget 64 MiB"})
	} else {
		h.rep.fail("upload_peak_rss_vs_64mib", "peak RSS above idle during a STOR", "<1", true,
			fmt.Errorf("no memory figure (the first s3ftpd STOR failed: %v)", put["s3ftpd"].err()))
	}
	// Peers: ours ÷ theirs.
	for _, m := range movers[2:] {
		target := ">1"
		if m.name == "vsftpd" {
			target = "none" // local disk, no S3: a reference, not a competitor
		}
		for _, d := range dirs {
			name := fmt.Sprintf("%s_throughput_vs_%s", d.key, m.name)
			title := fmt.Sprintf("%s %s throughput vs %s", d.verb, sz, m.label())
			if err := firstErr(d.s["s3ftpd"].err(), d.s[m.name].err()); err != nil {
				h.rep.fail(name, title, target, false, err)
				continue
			}
			o, t := median(d.s["s3ftpd"].rates(unitMiB)), median(d.s[m.name].rates(unitMiB))
			h.rep.add(figure{name: name, title: title, target: target, ratio: pairedRatio(d.s["s3ftpd"], d.s[m.name]),
				ours: fmt.Sprintf("%.0f MiB/s", o), ref: fmt.Sprintf("%s %.0f MiB/s", m.label(), t)})
		}
		for _, d := range dirs {
			name := fmt.Sprintf("%s_cpu_per_gib_vs_%s", d.key, m.name)
			title := fmt.Sprintf("%s server CPU-s per GiB vs %s", d.verb, m.label())
			oc, ok1 := d.s["s3ftpd"].cpuPerUnit("server", gib)
			tc, ok2 := d.s[m.name].cpuPerUnit("server", gib)
			if ok1 && ok2 && tc == 0 {
				// A short transfer from tmpfs can take less CPU than one
				// clock tick (10 ms) of /proc's accounting.
				h.rep.skip(name, "none", m.label()+" used less CPU than /proc can count (one 10 ms tick)")
				continue
			}
			if !ok1 || !ok2 {
				h.rep.fail(name, title, "<1", false, fmt.Errorf("no CPU figure (s3ftpd %v, %s %v)",
					d.s["s3ftpd"].err(), m.name, d.s[m.name].err()))
				continue
			}
			ours := fmt.Sprintf("%.2f CPU-s/GiB", oc)
			if h.embedded {
				ours += " (with its embedded store)"
			}
			h.rep.add(figure{name: name, title: title, target: map[bool]string{true: "none", false: "<1"}[m.name == "vsftpd"],
				ratio: max(oc, 0.001) / tc, ours: ours, ref: fmt.Sprintf("%s %.2f CPU-s/GiB", m.label(), tc)})
		}
		if mp, ok := peaks[m.name]; ok && m.name != "vsftpd" {
			if op, ok := peaks["s3ftpd"]; ok {
				h.rep.add(figure{name: "upload_peak_rss_vs_" + m.name, title: fmt.Sprintf("peak RSS above idle, %s STOR, vs %s", sz, m.label()),
					target: "<1", ratio: max(mib(op.peak-op.idle), 0.01) / max(mib(mp.peak-mp.idle), 0.01),
					ours: fmt.Sprintf("%.1f MiB", mib(op.peak-op.idle)),
					ref:  fmt.Sprintf("%s %.1f MiB (idle %.1f, peak %.1f)", m.label(), mib(mp.peak-mp.idle), mib(mp.idle), mib(mp.peak))})
			}
		}
	}

	// Details: every mover, both directions.
	var rows [][]string
	for _, d := range dirs {
		for _, m := range movers {
			s := d.s[m.name]
			verb := d.verb
			if m.srv == nil {
				verb = d.sdkVerb
			}
			row := []string{m.label(), verb}
			if err := s.err(); err != nil {
				rows = append(rows, append(row, "FAILED: "+oneLine(err.Error()), "", "", "", ""))
				continue
			}
			rates := s.rates(unitMiB)
			var each []string
			for _, r := range rates {
				each = append(each, fmt.Sprintf("%.0f", r))
			}
			row = append(row, fmt.Sprintf("%.0f", median(rates)), strings.Join(each, ", "))
			for _, role := range []string{"server", "store", "client"} {
				if c, ok := s.cpuPerUnit(role, gib); ok && !(role == "server" && m.srv == nil) && !(role == "store" && m.name == "vsftpd") {
					row = append(row, fmt.Sprintf("%.2f", c))
				} else {
					row = append(row, "—")
				}
			}
			rows = append(rows, row)
		}
	}
	body := table([]string{"path", "operation", "MiB/s (median)", "MiB/s per round", "server CPU-s/GiB", "store CPU-s/GiB", "harness CPU-s/GiB"}, rows)
	body += fmt.Sprintf("\n%s per transfer, %d rounds, interleaved; a ratio is the median of the per-round ratios. \"store\" is the separate versitygw process "+
		"(— with the embedded store: it is inside s3ftpd); \"harness\" is the client side (FTP client or SDK). "+
		"On %d CPUs the three compete: the sum of the CPU columns is the cost of a GiB through each path.\n",
		sz, h.opt.rounds, numCPU())
	var mem []string
	for _, name := range []string{"s3ftpd", "rclone", "sftpgo"} {
		if mp, ok := peaks[name]; ok {
			how := "VmHWM after resetting it"
			if !mp.resetOK {
				how = "VmHWM since start (clear_refs refused)"
			}
			mem = append(mem, fmt.Sprintf("- %s: idle %.1f MiB, peak %.1f MiB (%s; highest 50 ms RSS sample %.1f MiB), "+
				"above idle %.1f MiB during a %s upload\n", name, mib(mp.idle), mib(mp.peak), how, mib(mp.sampled), mib(mp.peak-mp.idle), sz))
		}
	}
	if len(mem) > 0 {
		body += "\nMemory of the server process during its first upload:\n\n" + strings.Join(mem, "")
	}
	h.rep.section(fmt.Sprintf("Throughput, %s transfers", sz), body)
}

func firstErr(errs ...error) error {
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return nil
}
