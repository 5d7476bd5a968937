package main

import (
	"context"
	"fmt"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// clusterProfile records node A and node B with perf during one more
// STOR and RETR of opt.bigSize with the data connection to A, and one
// with it relayed by B: where the relay's CPU goes, and what the owner
// does differently when its data connection is a relayed one.
func (h *harness) clusterProfile(ctx context.Context, rig *clusterRig) {
	if !h.opt.perf {
		return
	}
	perf, err := exec.LookPath("perf")
	if err != nil {
		h.rep.section("Cluster: where the nodes spend their CPU (perf)", "not taken: perf is not installed (apt-get install linux-perf)\n")
		return
	}
	const file = "/cluster/profile.bin"
	var b strings.Builder
	b.WriteString("`perf record -F 499 -g -p <pid>` on node A and on node B during one more transfer of each kind; " +
		"self time by category and the top symbols of each node.\n\n")
	for _, verb := range []string{"STOR", "RETR"} {
		for _, p := range []dataPath{{"owner", "data to the owner (A)", ""}, {"relayed", "data to B, relayed to A", nodeBIP}} {
			text, err := h.profileClusterOne(ctx, perf, rig, verb, p, file)
			if err != nil {
				text = "not taken: " + oneLine(err.Error()) + "\n"
			}
			fmt.Fprintf(&b, "### %s, %s\n\n%s\n", verb, p.label, text)
		}
	}
	if c, err := dialFTP(ctx, rig.a); err == nil {
		_ = c.Delete(file)
		c.close()
	}
	h.rep.section("Cluster: where the nodes spend their CPU (perf)", b.String())
}

func (h *harness) profileClusterOne(ctx context.Context, perf string, rig *clusterRig, verb string, p dataPath, file string) (string, error) {
	size := h.opt.bigSize
	octx, cancel := context.WithTimeout(ctx, opTimeout(size))
	defer cancel()
	sess, err := dialFTPData(octx, rig.a, p.host)
	if err != nil {
		return "", err
	}
	defer sess.close()
	nodes := []*ftpServer{rig.a, rig.b}
	recs := make([]*perfRec, len(nodes))
	for i, n := range nodes {
		tag := fmt.Sprintf("perf-%s-%s-%s", strings.ToLower(verb), p.name, n.name)
		if recs[i], err = h.startPerf(perf, tag, n.proc.pid); err != nil {
			for _, r := range recs[:i] {
				r.stop()
			}
			return "", err
		}
	}
	time.Sleep(time.Second) // let perf attach
	h.logf("cluster: %s of %s, %s, under perf record", verb, sizeText(size), p.label)
	cpu0 := make([]time.Duration, len(nodes))
	for i, n := range nodes {
		cpu0[i], _ = treeCPU(n.proc.pid)
	}
	t0 := time.Now()
	if verb == "STOR" {
		err = ftpStor(sess, h.pat, file, size)
	} else {
		err = ftpRetr(sess, file, size, make([]byte, 1<<20))
	}
	dur := time.Since(t0)
	cpu := make([]time.Duration, len(nodes))
	for i, n := range nodes {
		c, _ := treeCPU(n.proc.pid)
		cpu[i] = c - cpu0[i]
	}
	for _, r := range recs {
		r.stop()
	}
	if err != nil {
		return "", fmt.Errorf("the profiled %s failed: %w", verb, err)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%.0f MiB/s under perf.\n\n", mib(size)/dur.Seconds())
	gib := float64(size) / (1 << 30)
	for i, n := range nodes {
		if p.name == "owner" && n == rig.b {
			continue // idle
		}
		rows, err := perfSelf(ctx, perf, recs[i].data)
		if err != nil {
			fmt.Fprintf(&b, "%s: no profile: %s\n\n", n.name, oneLine(err.Error()))
			continue
		}
		fmt.Fprintf(&b, "**%s** used %.2f CPU-s (%.2f CPU-s/GiB). Self time by category: ", n.name, cpu[i].Seconds(), cpu[i].Seconds()/gib)
		var cats []string
		for _, c := range categorize(rows) {
			if c.pct >= 1 {
				cats = append(cats, fmt.Sprintf("%s %.0f%%", c.name, c.pct))
			}
		}
		b.WriteString(strings.Join(cats, "; ") + ".\n\n")
		var top [][]string
		for j, r := range rows {
			if j == 12 {
				break
			}
			top = append(top, []string{fmt.Sprintf("%.2f%%", r.pct), r.where, "`" + r.sym + "`"})
		}
		b.WriteString(table([]string{"self", "", "symbol"}, top))
		if ch, err := perfChildren(ctx, perf, recs[i].data); err == nil {
			var rows [][]string
			for _, st := range relayStages() {
				if r, ok := largest(ch, st.re); ok {
					rows = append(rows, []string{st.name, fmt.Sprintf("%.1f%%", r.pct), "`" + r.sym + "`"})
				}
			}
			if len(rows) > 0 {
				b.WriteString("\nInclusive time (the largest entry matching each; they overlap):\n\n")
				b.WriteString(table([]string{"stage", "total %", "symbol"}, rows))
			}
		}
		b.WriteString("\n")
	}
	return b.String(), nil
}

// relayStages are the inclusive entries that tell a splicing relay from
// a copying one, and what the owner's data connection costs.
func relayStages() []struct {
	name string
	re   *regexp.Regexp
} {
	return []struct {
		name string
		re   *regexp.Regexp
	}{
		{"splice(2) (relay copy in the kernel)", regexp.MustCompile(`^internal/poll\.splice(Pump|Drain)?$|^internal/poll\.Splice$`)},
		{"read(2) / write(2) of user buffers", regexp.MustCompile(`^syscall\.(read|write)$`)},
		{"read the FTP data connection", regexp.MustCompile(`^github\.com/s3ftpd/s3ftpd/internal/ftp\..*\)\.Read$`)},
		{"write the FTP data connection", regexp.MustCompile(`^github\.com/s3ftpd/s3ftpd/internal/ftp\..*\)\.Write$`)},
		{"send requests to S3 (part bodies)", regexp.MustCompile(`^net/http\.\(\*persistConn\)\.writeLoop$`)},
		{"read S3 responses (GetObject body)", regexp.MustCompile(`^net/http\.\(\*body\)\.Read$`)},
		{"netpoll wake-ups (runtime.netpoll)", regexp.MustCompile(`^runtime\.netpoll$`)},
		{"scheduler (runtime.schedule)", regexp.MustCompile(`^runtime\.schedule$`)},
		{"kernel (all system calls)", regexp.MustCompile(`^entry_SYSCALL_64`)},
	}
}

// perfRec is a perf record attached to one process.
type perfRec struct {
	p    *proc
	data string
}

func (h *harness) startPerf(perf, tag string, pid int) (*perfRec, error) {
	data := h.work + "/" + tag + ".data"
	p, err := h.procs.start(tag, nil, perf, "record", "-F", "499", "-g", "-p", strconv.Itoa(pid), "-o", data)
	if err != nil {
		return nil, err
	}
	return &perfRec{p: p, data: data}, nil
}

// stop makes perf write its data (SIGINT), bounded.
func (r *perfRec) stop() {
	_ = syscall.Kill(r.p.pid, syscall.SIGINT)
	select {
	case <-r.p.exited:
	case <-time.After(60 * time.Second):
		_ = r.p.stop()
	}
}

func perfSelf(ctx context.Context, perf, data string) ([]perfRow, error) {
	out, err := runCmd(ctx, 5*time.Minute, nil, "", perf, "report", "-i", data, "--stdio", "--no-children",
		"--sort", "symbol", "-g", "none", "--percent-limit", "0.3")
	if err != nil {
		return nil, fmt.Errorf("perf report: %v: %s", err, lastLines(out, 3))
	}
	rows := parsePerf(out)
	if len(rows) == 0 {
		return nil, fmt.Errorf("perf report had no samples: %s", lastLines(out, 3))
	}
	return rows, nil
}

func perfChildren(ctx context.Context, perf, data string) ([]perfRow, error) {
	out, err := runCmd(ctx, 5*time.Minute, nil, "", perf, "report", "-i", data, "--stdio", "--children",
		"--sort", "symbol", "-g", "none", "--percent-limit", "0.5")
	if err != nil {
		return nil, err
	}
	return parsePerf(out), nil
}
