package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// The memory sequence (issue 14): on each server while it is still fresh,
// one after the other, a STOR and a RETR of memBig, memSmall 4 KiB uploads
// in one session (as lftp's mput sends them), and a LIST of memList
// objects. The figure is the server's peak resident memory over the whole
// sequence — its process tree, so vsftpd's per-session processes count —
// and the peak after each step shows where it grows.
type memSteps struct {
	idle  int64
	after []int64 // peak so far, after each step of memStepNames
	err   error
}

var memStepNames = []string{"STOR", "RETR", "mput", "LIST"}

// memBudget is issue 14's target for the peak.
const memBudget = 64 << 20

// memSizes are the sequence's sizes for this mode.
func (h *harness) memSizes() (big int64, small, list int) {
	if h.opt.short {
		return 64 << 20, 50, 1000
	}
	return 256 << 20, 200, 5000
}

func (h *harness) memory(ctx context.Context, st *s3store, srv *ftpServer, peers []*ftpServer) {
	big, small, list := h.memSizes()
	res := map[string]memSteps{}
	// A second s3ftpd of its own, so that the throughput part's "peak RSS
	// above idle during the first STOR" still finds srv fresh (after the
	// sequence the upload blocks stay mapped for a while: a STOR then adds
	// ~0 MiB). With the embedded store its data dir belongs to srv.
	if !st.embedded {
		if own, err := h.startS3ftpdBin(ctx, st, h.s3ftpdBin, "s3ftpd-memory.yaml"); err == nil {
			defer func() { _ = own.proc.stop() }()
			srv = own
		} else {
			h.logf("memory: a second s3ftpd did not start (%v); the sequence runs on the main one", err)
		}
	}
	servers := []*ftpServer{srv}
	if ne := h.startNoembed(ctx, st); ne != nil {
		defer func() { _ = ne.proc.stop() }()
		servers = append(servers, ne)
	}
	servers = append(servers, peers...)
	for _, s := range servers {
		h.logf("memory: %s: STOR+RETR %s, %d × 4 KiB, LIST of %d", s.name, sizeText(big), small, list)
		r := h.memSequence(ctx, st, s, big, small, list)
		res[s.name] = r
		if r.err != nil {
			h.logf("  failed: %v", r.err)
			continue
		}
		h.logf("  idle %.1f MiB, peak %.1f MiB", mib(r.idle), mib(r.after[len(r.after)-1]))
	}
	title := fmt.Sprintf("peak RSS over the sequence (STOR+RETR %s, %d × 4 KiB, LIST of %d)", sizeText(big), small, list)
	ours := res["s3ftpd"]
	if ours.err != nil {
		h.rep.fail("memory_sequence_peak_vs_64mib", title, "<=1", true, ours.err)
	} else {
		p := ours.after[len(ours.after)-1]
		h.rep.add(figure{name: "memory_sequence_peak_vs_64mib", title: title, core: true, target: "<=1",
			ratio: float64(p) / memBudget, ours: fmt.Sprintf("%.1f MiB (idle %.1f)", mib(p), mib(ours.idle)), ref: "budget 64 MiB"})
	}
	for _, s := range servers[1:] {
		r := res[s.name]
		name, ptitle := "memory_sequence_peak_vs_"+s.name, "peak RSS over the sequence vs "+mover{name: s.name}.label()
		target := "<1"
		if s.name == "vsftpd" || s.name == noembedName {
			target = "none"
		}
		if err := firstErr(ours.err, r.err); err != nil {
			h.rep.fail(name, ptitle, target, false, err)
			continue
		}
		o, t := ours.after[len(ours.after)-1], r.after[len(r.after)-1]
		h.rep.add(figure{name: name, title: ptitle, target: target, ratio: float64(o) / float64(t),
			ours: fmt.Sprintf("%.1f MiB", mib(o)), ref: fmt.Sprintf("%s %.1f MiB (idle %.1f)", mover{name: s.name}.label(), mib(t), mib(r.idle))})
	}
	if h.opt.long {
		h.memoryHuge(ctx, srv)
	}
	head := append([]string{"server", "idle"}, memStepNames...)
	var rows [][]string
	for _, s := range servers {
		r := res[s.name]
		if r.err != nil {
			rows = append(rows, []string{mover{name: s.name}.label(), "FAILED: " + oneLine(r.err.Error())})
			continue
		}
		row := []string{mover{name: s.name}.label(), fmt.Sprintf("%.1f", mib(r.idle))}
		for _, a := range r.after {
			row = append(row, fmt.Sprintf("%.1f", mib(a)))
		}
		rows = append(rows, row)
	}
	h.rep.section("Memory over a sequence of transfers (peak RSS, MiB)", table(head, rows)+fmt.Sprintf(
		"\nEach server fresh, one at a time: STOR then RETR of %s, %d files of 4 KiB in one session (PASV+STOR each, "+
			"as lftp's mput), LIST of %d objects (created in the store beforehand). Each column is the peak resident "+
			"memory of the server's process tree from its start until the end of that step (VmHWM, and a 50 ms sampler "+
			"for child processes).\n", sizeText(big), small, list))
}

// noembedName names the production build in the memory figures.
const noembedName = "noembed"

// memHuge is the -long upload of the memory part.
const memHuge = 10 << 30

// memoryHuge: the peak RSS of s3ftpd during one memHuge STOR (issue 14:
// "during a 10 GiB upload at the default budget").
func (h *harness) memoryHuge(ctx context.Context, srv *ftpServer) {
	name, title := "memory_10gib_stor_peak_vs_64mib", "peak RSS during a "+sizeText(memHuge)+" STOR"
	h.logf("memory: s3ftpd: STOR of %s", sizeText(memHuge))
	octx, cancel := context.WithTimeout(ctx, opTimeout(memHuge))
	defer cancel()
	path := srv.base + "mem/huge.bin"
	r, mp, err := measurePeak(srv.proc.pid, func() opResult {
		c, err := dialFTP(octx, srv)
		if err != nil {
			return opResult{err: err}
		}
		defer c.close()
		t0 := time.Now()
		err = ftpStor(c, h.pat, path, memHuge)
		return opResult{dur: time.Since(t0), err: err}
	})
	if c, derr := dialFTP(ctx, srv); derr == nil {
		_ = c.Delete(path)
		c.close()
	}
	if err = firstErr(err, r.err); err != nil {
		h.rep.fail(name, title, "<=1", true, err)
		return
	}
	h.logf("  %v, idle %.1f MiB, peak %.1f MiB", r.dur.Round(time.Second), mib(mp.idle), mib(mp.peak))
	h.rep.add(figure{name: name, title: title, core: true, target: "<=1", ratio: float64(mp.peak) / memBudget,
		ours: fmt.Sprintf("%.1f MiB (idle %.1f, %.0f MiB/s)", mib(mp.peak), mib(mp.idle), mib(memHuge)/r.dur.Seconds()),
		ref:  "budget 64 MiB"})
}

// noembedBin is where prepareServer puts the build without the embedded
// store, next to the s3ftpd binary.
func noembedBin(s3ftpdBin string) string { return s3ftpdBin + "-noembed" }

// startNoembed starts s3ftpd built without the embedded store (the
// production build, docs/operations.md) on the separate store; nil when
// there is no such build (a -server binary given) or the store is embedded.
func (h *harness) startNoembed(ctx context.Context, st *s3store) *ftpServer {
	bin := noembedBin(h.s3ftpdBin)
	if !exists(bin) || st.embedded {
		return nil
	}
	srv, err := h.startS3ftpdBin(ctx, st, bin, "s3ftpd-noembed.yaml")
	if err != nil {
		h.logf("memory: the noembed build did not start: %v", err)
		return nil
	}
	srv.name = noembedName
	return srv
}

// memSequence runs the sequence on s and reads its memory.
func (h *harness) memSequence(ctx context.Context, st *s3store, s *ftpServer, big int64, small, list int) memSteps {
	var r memSteps
	dir := s.base + "mem"
	if err := mkdirs(ctx, s, dir, dir+"/small", dir+"/list"); err != nil {
		r.err = err
		return r
	}
	if err := h.memListObjects(ctx, st, s, dir+"/list", list); err != nil {
		r.err = fmt.Errorf("creating %d objects: %w", list, err)
		return r
	}
	time.Sleep(time.Second)
	pid := s.proc.pid
	if r.idle, r.err = treeRSS(pid); r.err != nil {
		return r
	}
	smp := startTreeSampler(pid)
	defer smp.stop()
	buf := make([]byte, 1<<20)
	body := make([]byte, smallSize)
	h.pat.fill(body, 0)
	steps := []func(c *ftpSession) error{
		func(c *ftpSession) error { return ftpStor(c, h.pat, dir+"/big.bin", big) },
		func(c *ftpSession) error { return ftpRetr(c, dir+"/big.bin", big, buf) },
		func(c *ftpSession) error {
			for i := range small {
				if err := c.Stor(fmt.Sprintf("%s/small/f%04d", dir, i), bytes.NewReader(body)); err != nil {
					return fmt.Errorf("STOR %d: %w", i, err)
				}
			}
			return nil
		},
		func(c *ftpSession) error {
			l := ftpList(ctx, s, dir+"/list")
			if l.err == nil && l.lines < list {
				l.err = fmt.Errorf("LIST returned %d lines, want %d", l.lines, list)
			}
			return l.err
		},
	}
	for i, step := range steps {
		octx, cancel := context.WithTimeout(ctx, opTimeout(big))
		c, err := dialFTP(octx, s)
		if err == nil {
			err = step(c)
			c.close()
		}
		cancel()
		if err != nil {
			r.err = fmt.Errorf("%s: %w", memStepNames[i], err)
			return r
		}
		hwm := int64(0)
		if m, err := readMem(pid); err == nil {
			hwm = m.HWM
		}
		r.after = append(r.after, max(hwm, smp.peak()))
	}
	if c, err := dialFTP(ctx, s); err == nil {
		_ = c.Delete(dir + "/big.bin")
		c.close()
	}
	return r
}

// memListObjects makes n objects visible in s's directory dir: in the
// store for the S3 servers, as files for vsftpd.
func (h *harness) memListObjects(ctx context.Context, st *s3store, s *ftpServer, dir string, n int) error {
	switch {
	case s.localDir != "":
		d := filepath.Join(s.localDir, filepath.FromSlash(dir))
		for i := range n {
			if err := os.WriteFile(filepath.Join(d, fmt.Sprintf("o-%06d", i)), nil, 0o644); err != nil {
				return err
			}
		}
		return nil
	case s.keyPrefix != "":
		_, err := h.createObjects(ctx, st, s.keyPrefix+dir[len(s.base):]+"/", n)
		return err
	}
	return fmt.Errorf("%s: the harness does not know where its files are stored", s.name)
}

// treeRSS is the RSS of pid and its live descendants; an error only when
// pid itself cannot be read.
func treeRSS(pid int) (int64, error) {
	m, err := readMem(pid)
	if err != nil {
		return 0, err
	}
	sum := m.RSS
	for _, c := range descendants(pid) {
		if cm, err := readMem(c); err == nil {
			sum += cm.RSS
		}
	}
	return sum, nil
}

// treeSampler reads the RSS of a process and its descendants every 50 ms
// and keeps the largest sum.
type treeSampler struct {
	mu   sync.Mutex
	max  int64
	done chan struct{}
	wg   sync.WaitGroup
}

func startTreeSampler(pid int) *treeSampler {
	t := &treeSampler{done: make(chan struct{})}
	t.wg.Add(1)
	go func() {
		defer t.wg.Done()
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for {
			sum, _ := treeRSS(pid)
			t.mu.Lock()
			t.max = max(t.max, sum)
			t.mu.Unlock()
			select {
			case <-t.done:
				return
			case <-tick.C:
			}
		}
	}()
	return t
}

func (t *treeSampler) peak() int64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.max
}

func (t *treeSampler) stop() {
	close(t.done)
	t.wg.Wait()
}
