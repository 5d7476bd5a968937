package main

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"
)

// dataPath is where a transfer's data connection goes: to the node that
// answered the PASV, or to the other node, which relays it.
type dataPath struct {
	name, label string
	host        string // "" = the address of the 227 reply
}

// relayThroughput: STOR and RETR of opt.bigSize through node A, with the
// data connection to A ("owner") or to B ("relayed"), interleaved round by
// round (the order alternates between rounds). The CPU of both nodes, the
// store and the harness is read around each transfer.
func (h *harness) relayThroughput(ctx context.Context, rig *clusterRig) {
	size := h.opt.bigSize
	paths := []dataPath{{"owner", "data to the owner (A)", ""}, {"relayed", "data to B, relayed to A", nodeBIP}}
	put := map[string]*series{"owner": {}, "relayed": {}}
	get := map[string]*series{"owner": {}, "relayed": {}}
	if err := mkdirs(ctx, rig.a, "/cluster"); err != nil {
		h.logf("mkdir on node A: %v", err)
	}
	file := func(p dataPath, round int) string { return fmt.Sprintf("/cluster/r%d-%s.bin", round, p.name) }
	buf := make([]byte, 1<<20)
	for round := range h.opt.rounds {
		if ctx.Err() != nil {
			break
		}
		order := slices.Clone(paths)
		if round%2 == 1 {
			slices.Reverse(order)
		}
		for _, p := range order {
			h.logf("round %d/%d: cluster STOR of %s, %s", round+1, h.opt.rounds, sizeText(size), p.label)
			r := h.clusterOp(ctx, rig, p, func(s *ftpSession) error { return ftpStor(s, h.pat, file(p, round), size) })
			put[p.name].add(round, r)
			h.logClusterOp(p, "STOR", size, r)
		}
		for _, p := range order {
			h.logf("round %d/%d: cluster RETR of %s, %s", round+1, h.opt.rounds, sizeText(size), p.label)
			r := h.clusterOp(ctx, rig, p, func(s *ftpSession) error { return ftpRetr(s, file(p, round), size, buf) })
			get[p.name].add(round, r)
			h.logClusterOp(p, "RETR", size, r)
		}
		if c, err := dialFTP(ctx, rig.a); err == nil {
			for _, p := range paths {
				_ = c.Delete(file(p, round))
			}
			c.close()
		}
	}
	h.relayFigures(size, paths, put, get)
}

// clusterOp logs in to A (untimed), then times op with the CPU of every
// process by role: "owner" (A), "relay" (B), "store", "client".
func (h *harness) clusterOp(ctx context.Context, rig *clusterRig, p dataPath, op func(*ftpSession) error) opResult {
	octx, cancel := context.WithTimeout(ctx, opTimeout(h.opt.bigSize))
	defer cancel()
	sess, err := dialFTPData(octx, rig.a, p.host)
	if err != nil {
		return opResult{err: err}
	}
	defer sess.close()
	meter := newCPUMeter(map[string]int{"owner": rig.a.proc.pid, "relay": rig.b.proc.pid,
		"store": rig.storePID, "client": os.Getpid()})
	t0 := time.Now()
	err = op(sess)
	return opResult{dur: time.Since(t0), cpu: meter.since(), err: err}
}

func (h *harness) logClusterOp(p dataPath, verb string, size int64, r opResult) {
	if r.err != nil {
		h.logf("  %s %s failed: %v", verb, p.label, r.err)
		return
	}
	h.logf("  %s %s: %.0f MiB/s in %v (owner CPU %v, relay CPU %v, store CPU %v)", verb, p.label,
		mib(size)/r.dur.Seconds(), r.dur.Round(time.Millisecond), r.cpu["owner"], r.cpu["relay"], r.cpu["store"])
}

func (h *harness) relayFigures(size int64, paths []dataPath, put, get map[string]*series) {
	sz := sizeText(size)
	gib := float64(size) / (1 << 30)
	type dir struct {
		key, verb string
		s         map[string]*series
	}
	dirs := []dir{{"stor", "STOR", put}, {"retr", "RETR", get}}
	for _, d := range dirs {
		own, rel := d.s["owner"], d.s["relayed"]
		name := d.key + "_relayed_vs_owner"
		title := fmt.Sprintf("%s %s, data relayed by another node, vs data to the owner", d.verb, sz)
		if err := firstErr(rel.err(), own.err()); err != nil {
			h.rep.fail(name, title, ">=0.90", true, err)
		} else {
			h.rep.add(figure{name: name, title: title, core: true, target: ">=0.90", ratio: pairedRatio(rel, own),
				ours: fmt.Sprintf("%.0f MiB/s relayed", median(rel.rates(mib(size)))),
				ref:  fmt.Sprintf("%.0f MiB/s to the owner", median(own.rates(mib(size))))})
		}
		name = d.key + "_relay_cpu_vs_owner"
		title = fmt.Sprintf("%s: relaying node's CPU-s per GiB vs the owner's", d.verb)
		rc, ok1 := rel.cpuPerUnit("relay", gib)
		oc, ok2 := rel.cpuPerUnit("owner", gib)
		if !ok1 || !ok2 || oc == 0 {
			h.rep.fail(name, title, "none", true, fmt.Errorf("no CPU figure (relayed transfers: %v)", rel.err()))
			continue
		}
		h.rep.add(figure{name: name, title: title, core: true, target: "none", ratio: max(rc, 0.001) / oc,
			ours: fmt.Sprintf("relay (B) %.2f CPU-s/GiB", rc), ref: fmt.Sprintf("owner (A) %.2f CPU-s/GiB", oc)})
	}

	var rows [][]string
	for _, d := range dirs {
		for _, p := range paths {
			s := d.s[p.name]
			row := []string{p.label, d.verb}
			if err := s.err(); err != nil {
				rows = append(rows, append(row, "FAILED: "+oneLine(err.Error()), "", "", "", "", "", ""))
				continue
			}
			rates := s.rates(mib(size))
			var each []string
			for _, r := range rates {
				each = append(each, fmt.Sprintf("%.0f", r))
			}
			row = append(row, fmt.Sprintf("%.0f", median(rates)), strings.Join(each, ", "))
			total := 0.0
			for _, role := range []string{"owner", "relay", "store", "client"} {
				c, _ := s.cpuPerUnit(role, gib)
				total += c
				row = append(row, fmt.Sprintf("%.2f", c))
			}
			row = append(row, fmt.Sprintf("%.2f", total))
			rows = append(rows, row)
		}
	}
	body := table([]string{"data connection", "operation", "MiB/s (median)", "MiB/s per round",
		"node A (owner) CPU-s/GiB", "node B CPU-s/GiB", "store CPU-s/GiB", "harness CPU-s/GiB", "all CPU-s/GiB"}, rows)
	body += fmt.Sprintf("\n%s per transfer, %d rounds, interleaved (the order alternates between rounds); a ratio is the "+
		"median of the per-round ratios. The control connection is always on node A (%s); \"relayed\" sends the data "+
		"connection to node B (%s) on the port of A's 227 reply, and B relays it to A over its authenticated relay "+
		"connection. Node B's CPU on the direct path is its idle cost. On %d CPUs all the processes compete: when they keep "+
		"the CPUs busy, a path's throughput goes as the inverse of its \"all\" column.\n",
		sz, h.opt.rounds, nodeAIP, nodeBIP, numCPU())
	h.rep.section(fmt.Sprintf("Cluster: data connection relayed by another node, %s transfers", sz), body)
}
