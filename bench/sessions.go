package main

import (
	"context"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// sessionsPerSource is how many sessions share one source address
// 127.0.x.y: low enough for any per-IP session cap of the server's
// defaults, and it spreads the ephemeral ports.
const sessionsPerSource = 50

// sessionSource is the source address of session i: 127.0.1.1,
// 127.0.1.2, … (all of 127.0.0.0/8 is loopback on Linux).
func sessionSource(i int) net.Addr {
	k := i / sessionsPerSource
	return &net.TCPAddr{IP: net.IPv4(127, 0, byte(1+k/250), byte(1+k%250))}
}

// openLimit bounds opening all the idle sessions.
const openLimit = 3 * time.Minute

// idleSessions: RSS per idle logged-in session, on a fresh s3ftpd.
func (h *harness) idleSessions(ctx context.Context, st *s3store) {
	n := h.opt.sessions
	name, title := "idle_session_rss_vs_30kib", fmt.Sprintf("RSS per idle logged-in session (%d sessions)", n)
	fail := func(err error) { h.rep.fail(name, title, "<1", true, err) }
	srv, err := h.startS3ftpd(ctx, st)
	if err != nil {
		fail(fmt.Errorf("start s3ftpd: %w", err))
		return
	}
	defer func() {
		if err := srv.proc.stop(); err != nil {
			h.logf("warning: %v", err)
		}
	}()
	pid := srv.proc.pid
	// One session first, so that what a first login allocates once (TLS
	// of nothing, the auth path, the passive pool) is in the baseline.
	warm, err := rawLogin(ctx, srv.addr, nil, srv.user, srv.pass)
	if err != nil {
		fail(fmt.Errorf("login: %w", err))
		return
	}
	defer warm.close()
	time.Sleep(time.Second)
	m0, err := readMem(pid)
	if err != nil {
		fail(err)
		return
	}
	h.logf("opening %d idle sessions (s3ftpd RSS %.1f MiB)", n, mib(m0.RSS))
	conns := make([]net.Conn, n)
	defer func() {
		for _, c := range conns {
			if c != nil {
				c.Close()
			}
		}
	}()
	octx, cancel := context.WithTimeout(ctx, openLimit)
	defer cancel()
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make([]error, 32)
	t0 := time.Now()
	for w := range errs {
		wg.Go(func() {
			for octx.Err() == nil {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				rc, err := rawLogin(octx, srv.addr, sessionSource(i), srv.user, srv.pass)
				if err != nil {
					errs[w] = fmt.Errorf("session %d from %v: %w", i, sessionSource(i), err)
					return
				}
				conns[i] = rc.c // its 512-byte reader is dropped: the client stays cheap
			}
		})
	}
	wg.Wait()
	if err := firstErr(append(errs, octx.Err())...); err != nil {
		fail(err)
		return
	}
	opened := time.Since(t0)
	// Let the server settle (goroutines parked, GC after the logins).
	time.Sleep(2 * time.Second)
	m1, err := readMem(pid)
	if err != nil {
		fail(err)
		return
	}
	if !srv.proc.running() {
		fail(fmt.Errorf("s3ftpd exited: %v", srv.proc.waitErr))
		return
	}
	per := float64(m1.RSS-m0.RSS) / float64(n)
	h.logf("  %d sessions in %v: RSS %.1f → %.1f MiB, %.1f KiB per session", n, opened.Round(time.Millisecond),
		mib(m0.RSS), mib(m1.RSS), per/1024)
	h.rep.add(figure{name: name, title: title, core: true, target: "<1", ratio: max(per/1024, 0.01) / 30,
		ours: fmt.Sprintf("%.1f KiB/session (RSS %.1f → %.1f MiB)", per/1024, mib(m0.RSS), mib(m1.RSS)),
		ref:  "budget 30 KiB/session"})
	h.rep.section("Idle sessions", fmt.Sprintf("A fresh s3ftpd with one logged-in session: RSS %.1f MiB. With %d more "+
		"logged-in idle sessions (opened in %v by 32 workers from %d source addresses 127.0.1.x, USER/PASS only): "+
		"RSS %.1f MiB, peak %.1f MiB. Per session: **%.1f KiB** (target < 30 KiB).\n",
		mib(m0.RSS), n, opened.Round(time.Millisecond), (n+sessionsPerSource-1)/sessionsPerSource,
		mib(m1.RSS), mib(m1.HWM), per/1024))
}
