package main

import (
	"context"
	"errors"
	"fmt"
	"github.com/s3ftpd/s3ftpd/internal/fdlimit"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"
)

// options are the driver's flags.
type options struct {
	sessions  int
	perIP     int // sessions sharing one source address
	duration  time.Duration
	ramp      time.Duration // sessions start spread over this
	think     time.Duration
	opTimeout time.Duration
	maxFiles  int
	multipart float64
	maxSize   int64
	sample    time.Duration
	quiet     time.Duration // pause after the warm-up, before the baseline
	settle    time.Duration // at most, for the sessions' descriptors to go after
	linger    time.Duration // keep watching the idle server this long after it settled
	rounds    int           // runs of opt.sessions new sessions, one after the other, on one server
	gctrace   bool          // GODEBUG=gctrace=1 for s3ftpd: its live heap after each GC
	store     string        // embedded or versitygw
	server    string        // s3ftpd binary; empty: go build
	versitygw string
	keep      bool
}

// result is what one run measured.
type result struct {
	stats        *stats
	sources      int
	elapsed      time.Duration // from the first session's start to the last one's end
	baseline     procSample
	baseGC       gcLine
	rounds       []round
	passivePorts int
	samples      []procSample
	loadBefore   string
	loadAfter    string
	serverLog    map[string]int
	stopErr      error
	workDir      string
}

// run starts s3ftpd, runs the sessions and measures the server.
func run(ctx context.Context, opt options, logf func(string, ...any)) (*result, error) {
	fdlimit.Raise(logf)
	work, err := os.MkdirTemp("", "s3ftpd-load-")
	if err != nil {
		return nil, err
	}
	if !opt.keep {
		defer os.RemoveAll(work)
	}
	bin := opt.server
	if bin == "" {
		bin = filepath.Join(work, "s3ftpd")
		out, err := exec.CommandContext(ctx, "go", "build", "-o", bin, "github.com/s3ftpd/s3ftpd/cmd/s3ftpd").CombinedOutput()
		if err != nil {
			return nil, fmt.Errorf("go build s3ftpd: %v\n%s", err, out)
		}
	}
	srv, err := startServer(ctx, work, bin, opt.store, opt.versitygw, opt.gctrace)
	if err != nil {
		return nil, err
	}
	res := &result{stats: newStats(), workDir: work, loadBefore: loadAvg()}
	defer func() {
		res.stopErr = srv.stop()
		res.serverLog = srv.proc.logLines("level=ERROR", "level=WARN", "panic")
	}()
	pr := srv.probe()
	logf("s3ftpd pid %d on %s (%s store), work dir %s", pr.pid, srv.addr, opt.store, work)
	if err := warmUp(ctx, srv, opt); err != nil {
		return res, fmt.Errorf("warm-up: %w", err)
	}
	select {
	case <-ctx.Done():
		return res, ctx.Err()
	case <-time.After(opt.quiet):
	}
	res.passivePorts = srv.passivePorts
	if res.baseline, err = pr.read(); err != nil {
		return res, err
	}
	logf("baseline: %v; load average %s", res.baseline, res.loadBefore)
	if opt.gctrace {
		res.baseGC = lastGC(srv.proc.log)
		logf("baseline: last GC: %v", res.baseGC)
	}

	cfg := &sessionConfig{addr: srv.addr, user: srv.user, pass: srv.pass, opTimeout: opt.opTimeout, think: opt.think,
		maxFiles: opt.maxFiles, sizes: sizeDist{multipart: opt.multipart, maxSize: opt.maxSize}, stats: res.stats}
	var active atomic.Int64
	sampled := sampleEvery(pr, opt.sample, &active, logf)
	defer func() { res.samples = sampled.stop() }()
	for r := range max(opt.rounds, 1) {
		rr, err := runRound(ctx, r, cfg, opt, srv, &active, res, logf)
		res.rounds = append(res.rounds, rr)
		res.elapsed += rr.elapsed
		if err != nil {
			return res, err
		}
	}
	res.loadAfter = loadAvg()
	return res, nil
}

// round is what one round of sessions left behind.
type round struct {
	elapsed  time.Duration
	settled  procSample  // once the sessions' descriptors went
	lingered *procSample // opt.linger later, if set
	gc       gcLine      // the last GC by then (with -gctrace)
}

// runRound runs opt.sessions new sessions (their own directories) on the
// running server, then watches it settle.
func runRound(ctx context.Context, r int, cfg *sessionConfig, opt options, srv *server, active *atomic.Int64,
	res *result, logf func(string, ...any)) (round, error) {
	var rr round
	t0 := time.Now()
	runSessions(ctx, cfg, opt, r*opt.sessions, active, res)
	rr.elapsed = time.Since(t0)
	logf("round %d: sessions done after %v: %d operations, %d errors, %d mismatches so far", r+1,
		rr.elapsed.Round(time.Second), res.stats.totalOps(), res.stats.totalErrors(), res.stats.totalMismatches())
	if !srv.proc.running() {
		return rr, fmt.Errorf("s3ftpd exited during the run: %v", srv.proc.waitErr)
	}
	pr := srv.probe()
	var err error
	rr.settled, err = settle(ctx, pr, res.baseline, opt.settle)
	logf("round %d: after the sessions: %v; load average %s", r+1, rr.settled, loadAvg())
	if err != nil || opt.linger <= 0 {
		return rr, err
	}
	select {
	case <-ctx.Done():
		return rr, ctx.Err()
	case <-time.After(opt.linger):
	}
	p, err := pr.read()
	rr.lingered = &p
	logf("round %d: %v later: %v; load average %s", r+1, opt.linger, p, loadAvg())
	if opt.gctrace {
		rr.gc = lastGC(srv.proc.log)
		logf("round %d: last GC: %v", r+1, rr.gc)
	}
	return rr, err
}

// warmUp makes the load directory and runs one of each operation, so that
// what the first transfer allocates once is in the baseline.
func warmUp(ctx context.Context, srv *server, opt options) error {
	c, err := dialClient(ctx, srv.addr, net.IPv4(127, 0, 0, 1), srv.user, srv.pass, opt.opTimeout)
	if err != nil {
		return err
	}
	defer c.quit(opt.opTimeout)
	return c.do(ctx, opt.opTimeout, func() error {
		if err := c.MakeDir("/load"); err != nil {
			return err
		}
		if err := c.Stor("/load/warm", newGenerator(1, 1<<20)); err != nil {
			return err
		}
		r, err := c.Retr("/load/warm")
		if err != nil {
			return err
		}
		if _, err := io.Copy(io.Discard, r); err != nil {
			r.Close()
			return err
		}
		if err := r.Close(); err != nil {
			return err
		}
		if _, err := c.List("/load"); err != nil {
			return err
		}
		return c.Delete("/load/warm")
	})
}

// sourceIP is session i's source address: 127.0.2.1, 127.0.2.2, …, perIP
// sessions each.
func sourceIP(i, perIP int) net.IP {
	k := i / perIP
	return net.IPv4(127, 0, byte(2+k/250), byte(1+k%250))
}

// runSessions runs every session until opt.duration has passed since the
// first started; each then checks its model. The whole is bounded by the
// duration plus time for the final checks.
func runSessions(ctx context.Context, cfg *sessionConfig, opt options, first int, active *atomic.Int64, res *result) {
	until := time.Now().Add(opt.duration)
	hard := opt.duration + time.Duration(opt.maxFiles+3)*opt.opTimeout + time.Minute
	ctx, cancel := context.WithTimeout(ctx, hard)
	defer cancel()
	res.sources = (opt.sessions + opt.perIP - 1) / opt.perIP
	var wg sync.WaitGroup
	for i := range opt.sessions {
		delay := opt.ramp * time.Duration(i) / time.Duration(opt.sessions)
		wg.Go(func() {
			s := newSession(cfg, first+i, sourceIP(i, opt.perIP))
			s.pause(ctx, delay)
			active.Add(1)
			defer active.Add(-1)
			s.run(ctx, until)
		})
	}
	wg.Wait()
}

// sampler reads the server's figures at an interval until stopped.
type sampler struct {
	stopc chan struct{}
	done  chan []procSample
}

func sampleEvery(pr probe, every time.Duration, active *atomic.Int64, logf func(string, ...any)) *sampler {
	s := &sampler{stopc: make(chan struct{}), done: make(chan []procSample, 1)}
	t0 := time.Now()
	go func() {
		var out []procSample
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-s.stopc:
				s.done <- out
				return
			case <-t.C:
			}
			p, err := pr.read()
			if err != nil {
				continue
			}
			p.at, p.sessions = time.Since(t0), int(active.Load())
			out = append(out, p)
			logf("%6v: %4d sessions; %v; load average %s", p.at.Round(time.Second), p.sessions, p, loadAvg())
		}
	}()
	return s
}

func (s *sampler) stop() []procSample {
	close(s.stopc)
	return <-s.done
}

// settle waits (at most limit, at least a second) until the server has no
// client connection left, no more other descriptors than at the baseline
// and no goroutines beyond what its descriptors explain, and returns its
// figures then.
func settle(ctx context.Context, pr probe, base procSample, limit time.Duration) (procSample, error) {
	deadline := time.Now().Add(limit)
	for {
		select {
		case <-ctx.Done():
			return procSample{}, ctx.Err()
		case <-time.After(time.Second):
		}
		p, err := pr.read()
		quiet := p.kinds.clients == 0 && p.kinds.other <= base.kinds.other && p.goroutines <= base.explainedGoroutines(p)
		if err != nil || quiet || time.Now().After(deadline) {
			return p, err
		}
	}
}

// lingerForGoroutines: see verdict.
const lingerForGoroutines = 3 * time.Minute

// goroutineSlack: goroutines that come and go without a descriptor (timers
// of the runtime and of the server, the janitor's sweep).
const goroutineSlack = 8

// explainedGoroutines is the most goroutines a server may hold at p when
// base was its baseline (see verdict).
func (base procSample) explainedGoroutines(p procSample) int {
	return base.goroutines + 2*max(p.kinds.store-base.kinds.store, 0) +
		max(p.kinds.listeners-base.kinds.listeners, 0) + goroutineSlack
}

// verdict lists what makes the run a failure.
func (r *result) verdict(opt options) error {
	var errs []error
	if n := r.stats.totalErrors(); n > 0 {
		errs = append(errs, fmt.Errorf("%d errors: %s", n, counts(r.stats.errs)))
	}
	if n := r.stats.totalMismatches(); n > 0 {
		errs = append(errs, fmt.Errorf("%d mismatches: %s", n, counts(r.stats.mismatches)))
	}
	if r.stats.ops["STOR"] == 0 || r.stats.ops["RETR"] == 0 || r.stats.checkedN == 0 {
		errs = append(errs, fmt.Errorf("too little was done: %s, %d files checked at the end", counts(r.stats.ops), r.stats.checkedN))
	}
	// Flat: no client connection left, no more files than before, and no
	// more listeners than the passive ports that were opened (they stay).
	// Idle keep-alive connections to the store are not counted (closed
	// after 90 s idle).
	for i, rr := range r.rounds {
		b, a := r.baseline.kinds, rr.settled.kinds
		if a.clients > 0 || a.other > b.other || a.listeners > b.listeners+r.passivePorts {
			errs = append(errs, fmt.Errorf("round %d: s3ftpd descriptors not back after the sessions: before %v, after %v",
				i+1, b, a))
		}
	}
	// Goroutines flat: what is left once the sessions are gone is the
	// baseline plus what the remaining descriptors explain — at most two
	// per store socket (the HTTP client's read and write loops; with the
	// embedded store both ends are in the process, and the server end has
	// one) and one per passive listener opened since — and goroutineSlack.
	// A session's goroutines that outlived it would show here. The idle
	// server is judged only after lingerForGoroutines: once the store's
	// idle connections close (90 s), the embedded store's HTTP server
	// keeps their worker goroutines, without a descriptor, for a while
	// longer (gone ~110 s after the sessions in the runs measured).
	for i, rr := range r.rounds {
		samples := []*procSample{&rr.settled}
		if opt.linger >= lingerForGoroutines {
			samples = append(samples, rr.lingered)
		}
		for _, p := range samples {
			if p != nil && p.goroutines > r.baseline.explainedGoroutines(*p) {
				errs = append(errs, fmt.Errorf("round %d: s3ftpd goroutines not back after the sessions: %d, at most %d explained (baseline %d)",
					i+1, p.goroutines, r.baseline.explainedGoroutines(*p), r.baseline.goroutines))
			}
		}
	}
	if n := r.serverLog["panic"]; n > 0 {
		errs = append(errs, fmt.Errorf("s3ftpd log has %d lines with \"panic\"", n))
	}
	if r.stopErr != nil {
		errs = append(errs, r.stopErr)
	}
	return errors.Join(errs...)
}
