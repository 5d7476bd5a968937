package main

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// profile records s3ftpd with perf during one more STOR and one more RETR
// of opt.bigSize (the server has no pprof endpoint, and the harness does
// not change it) and summarizes where its CPU time goes.
func (h *harness) profile(ctx context.Context, srv *ftpServer) {
	perf, err := exec.LookPath("perf")
	if err != nil {
		h.rep.profileNote = "not taken: perf is not installed (apt-get install linux-perf)"
		return
	}
	if err := mkdirs(ctx, srv, "/profile"); err != nil {
		h.logf("mkdir: %v", err)
	}
	var b strings.Builder
	for _, verb := range []string{"STOR", "RETR"} {
		text, err := h.profileOne(ctx, perf, srv, verb)
		if err != nil {
			fmt.Fprintf(&b, "### %s\n\nnot taken: %s\n\n", verb, oneLine(err.Error()))
			continue
		}
		fmt.Fprintf(&b, "### %s\n\n%s\n", verb, text)
	}
	if c, err := dialFTP(ctx, srv); err == nil {
		_ = c.Delete("/profile/p.bin")
		c.close()
	}
	h.rep.profile = b.String()
}

// profileOne runs one transfer under perf record and renders the report.
func (h *harness) profileOne(ctx context.Context, perf string, srv *ftpServer, verb string) (string, error) {
	size := h.opt.bigSize
	data := filepath.Join(h.work, "perf-"+strings.ToLower(verb)+".data")
	octx, cancel := context.WithTimeout(ctx, opTimeout(size))
	defer cancel()
	sess, err := dialFTP(octx, srv)
	if err != nil {
		return "", err
	}
	defer sess.close()
	p, err := h.procs.start("perf", nil, perf, "record", "-F", "499", "-g", "-p", strconv.Itoa(srv.proc.pid), "-o", data)
	if err != nil {
		return "", err
	}
	time.Sleep(time.Second) // let perf attach
	if !p.running() {
		return "", fmt.Errorf("perf record exited: %s", p.tail(5))
	}
	h.logf("%s of %s under perf record", verb, sizeText(size))
	cpu0, _ := treeCPU(srv.proc.pid)
	t0 := time.Now()
	if verb == "STOR" {
		err = ftpStor(sess, h.pat, "/profile/p.bin", size)
	} else {
		err = ftpRetr(sess, "/profile/p.bin", size, make([]byte, 1<<20))
	}
	dur := time.Since(t0)
	cpu1, _ := treeCPU(srv.proc.pid)
	// perf writes its data on SIGINT.
	_ = syscall.Kill(p.pid, syscall.SIGINT)
	select {
	case <-p.exited:
	case <-time.After(60 * time.Second):
		_ = p.stop()
	}
	if err != nil {
		return "", fmt.Errorf("the profiled %s failed: %w", verb, err)
	}
	self, err := runCmd(ctx, 5*time.Minute, nil, "", perf, "report", "-i", data, "--stdio", "--no-children",
		"--sort", "symbol", "-g", "none", "--percent-limit", "0.3")
	if err != nil {
		return "", fmt.Errorf("perf report: %v: %s", err, lastLines(self, 3))
	}
	children, _ := runCmd(ctx, 5*time.Minute, nil, "", perf, "report", "-i", data, "--stdio", "--children",
		"--sort", "symbol", "-g", "none", "--percent-limit", "0.5")
	selfRows := parsePerf(self)
	if len(selfRows) == 0 {
		return "", fmt.Errorf("perf report had no samples: %s", lastLines(self, 3))
	}
	var b strings.Builder
	cpu := (cpu1 - cpu0).Seconds()
	fmt.Fprintf(&b, "`perf record -F 499 -g -p <s3ftpd>` during one more %s of %s: %.0f MiB/s under perf, "+
		"s3ftpd used %.1f CPU-s (%.2f CPU-s/GiB). Self time by category (symbols matched by name):\n\n",
		verb, sizeText(size), mib(size)/dur.Seconds(), cpu, cpu/(float64(size)/(1<<30)))
	var catRows [][]string
	for _, c := range categorize(selfRows) {
		catRows = append(catRows, []string{c.name, fmt.Sprintf("%.1f%%", c.pct), strings.Join(c.top, ", ")})
	}
	b.WriteString(table([]string{"category", "self %", "main symbols"}, catRows))
	if r, ok := largest(selfRows, regexp.MustCompile(`irq_enable`)); ok && r.pct > 5 {
		fmt.Fprintf(&b, "\n`%s` (%.0f%%) is the guest kernel re-enabling interrupts under a paravirtualized "+
			"hypervisor: samples taken while interrupts were off are charged there, so kernel self time is smeared "+
			"over it; the inclusive stages below attribute it to the system calls it belongs to.\n", r.sym, r.pct)
	}
	b.WriteString("\nTop symbols, self time:\n\n")
	var top [][]string
	for i, r := range selfRows {
		if i == 20 {
			break
		}
		top = append(top, []string{fmt.Sprintf("%.2f%%", r.pct), r.where, "`" + r.sym + "`"})
	}
	b.WriteString(table([]string{"self", "", "symbol"}, top))
	if ch := parsePerf(children); len(ch) > 0 {
		b.WriteString("\nInclusive time of the stages of the transfer (the largest entry matching each; they overlap):\n\n")
		var rows [][]string
		for _, st := range stages {
			if r, ok := largest(ch, st.re); ok {
				rows = append(rows, []string{st.name, fmt.Sprintf("%.1f%%", r.pct), "`" + r.sym + "`"})
			}
		}
		b.WriteString(table([]string{"stage", "total %", "symbol"}, rows))
		b.WriteString("\nInclusive time, top entries:\n\n")
		rows = nil
		for i, r := range ch {
			if i == 25 || r.pct < 4 {
				break
			}
			rows = append(rows, []string{fmt.Sprintf("%.2f%%", r.pct), "`" + r.sym + "`"})
		}
		b.WriteString(table([]string{"total", "symbol"}, rows))
	}
	return b.String(), nil
}

type perfRow struct {
	pct   float64
	where string // [k] kernel, [.] user
	sym   string
}

// perfLine is a line of perf report --stdio: overhead (and, with
// --children, self), [k] or [.], the symbol, then maybe "-  -" (the IPC
// columns when there is no LBR data).
var perfLine = regexp.MustCompile(`^\s+([0-9.]+)%\s+(?:[0-9.]+%\s+)?(\[[k.]\])\s+(.+?)(?:\s+-\s+-)?\s*$`)

func parsePerf(out string) []perfRow {
	var rows []perfRow
	for _, line := range strings.Split(out, "\n") {
		m := perfLine.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		pct, err := strconv.ParseFloat(m[1], 64)
		if err != nil {
			continue
		}
		rows = append(rows, perfRow{pct: pct, where: m[2], sym: m[3]})
	}
	return rows
}

// stages of a transfer, found by symbol in the inclusive report.
var stages = []struct {
	name string
	re   *regexp.Regexp
}{
	{"read the FTP data connection", regexp.MustCompile(`^github\.com/s3ftpd/s3ftpd/internal/ftp\..*\)\.Read$`)},
	{"write the FTP data connection", regexp.MustCompile(`^github\.com/s3ftpd/s3ftpd/internal/ftp\..*\)\.Write$`)},
	{"send requests to S3 (part bodies)", regexp.MustCompile(`^net/http\.\(\*persistConn\)\.writeLoop$`)},
	{"read S3 responses (GetObject body)", regexp.MustCompile(`^net/http\.\(\*body\)\.Read$`)},
	{"CRC32", regexp.MustCompile(`^hash/crc32\.`)},
	{"user-space copies (memmove)", regexp.MustCompile(`^runtime\.memmove$`)},
	{"garbage collector", regexp.MustCompile(`^runtime\.gcBgMarkWorker$`)},
	{"kernel (all system calls)", regexp.MustCompile(`^entry_SYSCALL_64`)},
}

// largest returns the row with the highest percentage whose symbol
// matches re.
func largest(rows []perfRow, re *regexp.Regexp) (perfRow, bool) {
	var best perfRow
	found := false
	for _, r := range rows {
		if re.MatchString(r.sym) && (!found || r.pct > best.pct) {
			best, found = r, true
		}
	}
	return best, found
}

type category struct {
	name string
	pct  float64
	top  []string
}

// categories in order of matching; the first match wins.
var categories = []struct {
	name string
	re   *regexp.Regexp
}{
	{"copies (memmove, memclr)", regexp.MustCompile(`^runtime\.(memmove|memclrNoHeapPointers)`)},
	{"CRC32 of parts", regexp.MustCompile(`crc32`)},
	{"SHA-256 / MD5 (signing, hashing)", regexp.MustCompile(`sha256|md5`)},
	{"garbage collector", regexp.MustCompile(`^runtime\.(gc|scan|mark|greyobject|findObject|heapBits|wbBuf|bgsweep|sweep|typePointers|spanOf)`)},
	{"allocation", regexp.MustCompile(`^runtime\.(mallocgc|nextFreeFast|(mcache|mcentral|mheap)|newobject|makeslice|growslice)`)},
	{"scheduler, futex, netpoll (user side)", regexp.MustCompile(`^runtime\.`)},
	{"net/http, SDK, smithy", regexp.MustCompile(`^(net/http|github\.com/aws|bufio|net/textproto)`)},
	{"kernel: copies to/from user space", regexp.MustCompile(`copy_(user|to_user|from_user)|memcpy|rep_movs`)},
	{"kernel: TCP/loopback", regexp.MustCompile(`tcp|skb|inet|ip_|net_|sock|__dev_queue|loopback|napi|netif`)},
	{"kernel: other (syscalls, scheduling, page faults)", regexp.MustCompile(`.`)},
}

func categorize(rows []perfRow) []category {
	byName := map[string]*category{}
	var order []string
	for _, r := range rows {
		name := "other (user space)"
		for _, c := range categories {
			kernelCat := strings.HasPrefix(c.name, "kernel")
			if (r.where == "[k]") != kernelCat {
				continue
			}
			if c.re.MatchString(r.sym) {
				name = c.name
				break
			}
		}
		c, ok := byName[name]
		if !ok {
			c = &category{name: name}
			byName[name] = c
			order = append(order, name)
		}
		c.pct += r.pct
		if len(c.top) < 3 {
			c.top = append(c.top, "`"+r.sym+"`")
		}
	}
	var out []category
	for _, n := range order {
		out = append(out, *byName[n])
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].pct > out[j].pct })
	return out
}
