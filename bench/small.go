package main

import (
	"bytes"
	"context"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

func numCPU() int { return runtime.NumCPU() }

const smallSize = 4 << 10

// smallRunLimit bounds one small-file run; the count is the main bound.
const smallRunLimit = 2 * time.Minute

// smallFiles: 4 KiB files per second, opt.smallClients at once, through
// each mover, interleaved over the rounds.
func (h *harness) smallFiles(ctx context.Context, st *s3store, srv *ftpServer, peers []*ftpServer) {
	movers := []mover{{name: "sdk"}, {name: "s3ftpd", srv: srv}}
	for _, p := range peers {
		movers = append(movers, mover{name: p.name, srv: p})
	}
	body := make([]byte, smallSize)
	h.pat.fill(body, 0)
	res := map[string]*series{}
	for _, m := range movers {
		res[m.name] = &series{}
	}
	rounds := min(h.opt.rounds, 2)
	n := h.opt.smallFiles
	for round := range rounds {
		for _, m := range movers {
			if ctx.Err() != nil {
				return
			}
			h.logf("round %d/%d: %s, %d files of 4 KiB, %d clients", round+1, rounds, m.label(), n, h.opt.smallClients)
			r := h.smallRun(ctx, st, m, round, n, body)
			res[m.name].add(round, r)
			if r.err == nil {
				h.logf("  %.0f files/s", float64(n)/r.dur.Seconds())
			} else {
				h.logf("  failed: %v", r.err)
			}
		}
	}
	ours, sdk := res["s3ftpd"], res["sdk"]
	name, title := "small_files_per_s_vs_sdk", fmt.Sprintf("4 KiB files/s, %d clients, vs direct PutObject", h.opt.smallClients)
	if err := firstErr(ours.err(), sdk.err()); err != nil {
		h.rep.fail(name, title, ">=0.80", true, err)
	} else {
		o, b := median(ours.rates(float64(n))), median(sdk.rates(float64(n)))
		h.rep.add(figure{name: name, title: title, core: true, target: ">=0.80", ratio: pairedRatio(ours, sdk),
			ours: fmt.Sprintf("%.0f files/s", o), ref: fmt.Sprintf("SDK PutObject %.0f files/s", b)})
	}
	for _, m := range movers[2:] {
		target := ">1"
		if m.name == "vsftpd" {
			target = "none"
		}
		name := "small_files_per_s_vs_" + m.name
		title := fmt.Sprintf("4 KiB files/s, %d clients, vs %s", h.opt.smallClients, m.label())
		if err := firstErr(ours.err(), res[m.name].err()); err != nil {
			h.rep.fail(name, title, target, false, err)
			continue
		}
		o, t := median(ours.rates(float64(n))), median(res[m.name].rates(float64(n)))
		h.rep.add(figure{name: name, title: title, target: target, ratio: pairedRatio(ours, res[m.name]),
			ours: fmt.Sprintf("%.0f files/s", o), ref: fmt.Sprintf("%s %.0f files/s", m.label(), t)})
	}
	var rows [][]string
	for _, m := range movers {
		s := res[m.name]
		if err := s.err(); err != nil {
			rows = append(rows, []string{m.label(), "FAILED: " + oneLine(err.Error()), "", "", ""})
			continue
		}
		var each []string
		for _, r := range s.rates(float64(n)) {
			each = append(each, fmt.Sprintf("%.0f", r))
		}
		row := []string{m.label(), fmt.Sprintf("%.0f", median(s.rates(float64(n)))), strings.Join(each, ", ")}
		for _, role := range []string{"server", "store"} {
			if c, ok := s.cpuPerUnit(role, float64(n)/1000); ok && !(role == "server" && m.srv == nil) && !(role == "store" && m.name == "vsftpd") {
				row = append(row, fmt.Sprintf("%.2f", c))
			} else {
				row = append(row, "—")
			}
		}
		rows = append(rows, row)
	}
	h.rep.section(fmt.Sprintf("Small files, 4 KiB, %d clients", h.opt.smallClients),
		table([]string{"path", "files/s (median)", "files/s per round", "server CPU-s per 1000 files", "store CPU-s per 1000 files"}, rows)+
			fmt.Sprintf("\n%d files per round, %d rounds. Each FTP client is one logged-in session doing PASV+STOR per file; "+
				"the SDK side is %d goroutines doing PutObject.\n", n, rounds, h.opt.smallClients))
}

// smallRun stores n small files with opt.smallClients workers; sessions
// are opened before the clock starts.
func (h *harness) smallRun(ctx context.Context, st *s3store, m mover, round, n int, body []byte) opResult {
	ctx, cancel := context.WithTimeout(ctx, smallRunLimit+time.Minute)
	defer cancel()
	workers := h.opt.smallClients
	var sessions []*ftpSession
	defer func() {
		for _, s := range sessions {
			if s != nil {
				s.close()
			}
		}
	}()
	dir := ""
	if m.srv != nil {
		dir = fmt.Sprintf("%ssmall%d", m.srv.base, round)
		if err := mkdirs(ctx, m.srv, dir); err != nil {
			return opResult{err: err}
		}
		sessions = make([]*ftpSession, workers)
		var wg sync.WaitGroup
		errs := make([]error, workers)
		for i := range workers {
			wg.Go(func() { sessions[i], errs[i] = dialFTP(ctx, m.srv) })
		}
		wg.Wait()
		if err := firstErr(errs...); err != nil {
			return opResult{err: err}
		}
	}
	var next, done atomic.Int64
	deadline := time.Now().Add(smallRunLimit)
	closeAll := func() {
		for i, s := range sessions {
			if s != nil {
				s.close()
				sessions[i] = nil
			}
		}
	}
	return h.timed(st, m, func() error {
		errs := make([]error, workers)
		var wg sync.WaitGroup
		for w := range workers {
			wg.Go(func() {
				for time.Now().Before(deadline) && ctx.Err() == nil {
					i := next.Add(1)
					if i > int64(n) {
						return
					}
					var err error
					if m.srv == nil {
						err = sdkPutSmall(ctx, st, fmt.Sprintf("sdk/small%d/f%05d", round, i), body)
					} else {
						err = sessions[w].Stor(fmt.Sprintf("%s/f%05d", dir, i), bytes.NewReader(body))
					}
					if err != nil {
						errs[w] = fmt.Errorf("file %d: %w", i, err)
						return
					}
					done.Add(1)
				}
			})
		}
		wg.Wait()
		if err := firstErr(errs...); err != nil {
			return err
		}
		if got := done.Load(); got != int64(n) {
			return fmt.Errorf("stored %d of %d files within %v", got, n, smallRunLimit)
		}
		return nil
	}, closeAll)
}
