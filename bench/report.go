package main

import (
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// figure is one line of the result: a ratio against a target.
type figure struct {
	name   string // bench: <name>
	title  string // the table's row label
	ours   string // s3ftpd's measurement, for people
	ref    string // what it is compared with
	ratio  float64
	target string // ">=0.95", "<1", "none"
	state  string // "" measured, "skipped", "failed"
	reason string
	core   bool // an s3ftpd figure: failing to measure it fails the run
}

// met says whether ratio meets target ("" when there is no target).
func (f figure) met() string {
	if f.state != "" {
		return ""
	}
	if lo, hi, ok := strings.Cut(f.target, ".."); ok { // a range, both ends included
		l, err1 := strconv.ParseFloat(lo, 64)
		u, err2 := strconv.ParseFloat(hi, 64)
		switch {
		case err1 != nil || err2 != nil:
			return ""
		case f.ratio >= l && f.ratio <= u:
			return "yes"
		}
		return "NO"
	}
	op, num := "", f.target
	for _, p := range []string{">=", "<=", ">", "<"} {
		if strings.HasPrefix(f.target, p) {
			op, num = p, strings.TrimPrefix(f.target, p)
			break
		}
	}
	t, err := strconv.ParseFloat(num, 64)
	if op == "" || err != nil {
		return ""
	}
	ok := false
	switch op {
	case ">=":
		ok = f.ratio >= t
	case "<=":
		ok = f.ratio <= t
	case ">":
		ok = f.ratio > t
	case "<":
		ok = f.ratio < t
	}
	if ok {
		return "yes"
	}
	return "NO"
}

// section is a detail table or text of the report.
type section struct {
	title string
	body  string // Markdown
}

type report struct {
	opt         options
	live        io.Writer // figure lines as they are measured
	machine     []string
	versions    map[string]string
	store       string
	dataDir     string
	netns       string
	figures     []figure
	sections    []section
	peerNotes   [][2]string
	profileNote string
	profile     string
	notes       []string
	elapsed     time.Duration
}

func newReport(opt options) *report {
	return &report{opt: opt, versions: map[string]string{}}
}

// add records a measured figure and prints its line.
func (r *report) add(f figure) {
	if math.IsNaN(f.ratio) || math.IsInf(f.ratio, 0) || f.ratio <= 0 {
		f.state, f.reason = "failed", fmt.Sprintf("ratio %v is not a positive number (%s vs %s)", f.ratio, f.ours, f.ref)
	}
	r.figures = append(r.figures, f)
	if r.live != nil {
		r.printLine(r.live, f)
	}
}

// fail records a figure that could not be measured.
func (r *report) fail(name, title, target string, core bool, err error) {
	r.add1(figure{name: name, title: title, target: target, state: "failed", reason: oneLine(err.Error()), core: core})
}

// skip records a figure that was not measured, and why.
func (r *report) skip(name, target, reason string) {
	r.add1(figure{name: name, title: name, target: target, state: "skipped", reason: reason})
}

func (r *report) add1(f figure) {
	r.figures = append(r.figures, f)
	if r.live != nil {
		r.printLine(r.live, f)
	}
}

func (r *report) printLine(w io.Writer, f figure) {
	switch f.state {
	case "":
		fmt.Fprintf(w, "bench: %s ratio=%.2f target=%s\n", f.name, f.ratio, f.target)
	default:
		fmt.Fprintf(w, "%s: %s: %s\n", f.state, f.name, f.reason)
	}
}

func (r *report) section(title, body string) {
	r.sections = append(r.sections, section{title, body})
}

func (r *report) note(format string, args ...any) {
	r.notes = append(r.notes, fmt.Sprintf(format, args...))
}

func (r *report) peerNote(peer, note string) {
	r.peerNotes = append(r.peerNotes, [2]string{peer, note})
}

// coreFailed reports whether an s3ftpd figure could not be measured.
func (r *report) coreFailed() bool {
	return slices.ContainsFunc(r.figures, func(f figure) bool { return f.core && f.state == "failed" })
}

func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	return s
}

// table renders a Markdown table with padded columns.
func table(head []string, rows [][]string) string {
	w := make([]int, len(head))
	for i, h := range head {
		w[i] = utf8.RuneCountInString(h)
	}
	for _, row := range rows {
		for i, c := range row {
			w[i] = max(w[i], utf8.RuneCountInString(c))
		}
	}
	var b strings.Builder
	line := func(cells []string) {
		b.WriteString("|")
		for i, c := range cells {
			b.WriteString(" " + c + strings.Repeat(" ", w[i]-utf8.RuneCountInString(c)) + " |")
		}
		b.WriteString("\n")
	}
	line(head)
	sep := make([]string, len(head))
	for i := range sep {
		sep[i] = strings.Repeat("-", w[i])
	}
	line(sep)
	for _, row := range rows {
		line(row)
	}
	return b.String()
}

// mainTable is the summary: one row per figure.
func (r *report) mainTable() string {
	var rows [][]string
	for _, f := range r.figures {
		ratio, met := fmt.Sprintf("%.2f", f.ratio), f.met()
		ours, ref := f.ours, f.ref
		switch f.state {
		case "skipped":
			ratio, ours, ref = "—", "skipped", f.reason
		case "failed":
			ratio, ours, ref = "—", "FAILED", f.reason
		}
		rows = append(rows, []string{f.title, ours, ref, ratio, f.target, met})
	}
	return table([]string{"figure", "s3ftpd", "compared with", "ratio", "target", "met"}, rows)
}

func (r *report) mode() string {
	switch {
	case r.opt.short:
		return "-short"
	case r.opt.long:
		return "-long"
	}
	return "default"
}

// print writes the table and the details to w (after the figure lines).
func (r *report) print(w io.Writer) {
	fmt.Fprintf(w, "\n%s\n", r.mainTable())
	for _, s := range r.sections {
		fmt.Fprintf(w, "%s\n\n%s\n", s.title, s.body)
	}
	if len(r.peerNotes) > 0 {
		fmt.Fprintln(w, "peers:")
		for _, p := range r.peerNotes {
			fmt.Fprintf(w, "  %s: %s\n", p[0], p[1])
		}
	}
	fmt.Fprintf(w, "store: %s on %s; mode %s; %s total\n", r.store, r.dataDir, r.mode(), r.elapsed.Round(time.Second))
}

// Hand-written notes between these markers survive when the harness
// rewrites the report.
const (
	notesBegin = "<!-- BEGIN notes: hand-written, kept when the harness rewrites this file -->"
	notesEnd   = "<!-- END notes -->"
)

// keptNotes returns the notes block of an earlier report ("" if none).
func keptNotes(old string) string {
	i := strings.Index(old, notesBegin)
	j := strings.Index(old, notesEnd)
	if i < 0 || j < i {
		return ""
	}
	return old[i : j+len(notesEnd)]
}

// markdown is the report for docs/benchmarks.md; notes is a kept block
// of hand-written notes.
func (r *report) markdown(notes string) string {
	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	p("# s3ftpd benchmarks\n\n")
	p("Generated by `%s` on %s (%s mode, %s).\n\n", r.cmdline(), time.Now().UTC().Format("2006-01-02 15:04 MST"),
		r.mode(), r.elapsed.Round(time.Second))
	p("Every figure is a **ratio of two measurements taken in the same run** against the same S3-compatible server\n")
	p("process on loopback: absolute times on this shared machine are noise. Targets come from issue 7 (the cluster's\n")
	p("from issue 10, the latency mode's from issue 14).\n\n")
	p("## Machine and versions\n\n")
	for _, m := range r.machine {
		p("- %s\n", m)
	}
	p("- S3 server: %s, data on %s\n", r.store, r.dataDir)
	p("- network: %s\n", r.netns)
	for _, k := range []string{"s3ftpd", "versitygw", "rclone", "sftpgo", "vsftpd"} {
		if v, ok := r.versions[k]; ok {
			p("- %s: %s\n", k, v)
		}
	}
	p("\n## Results\n\n%s\n", r.mainTable())
	p("Ratios: throughput and files/s are s3ftpd ÷ the other; memory and first-byte figures are the measurement ÷\n")
	p("the issue's budget (64 MiB, 30 KiB, 300 ms), so below 1 meets it; CPU ratios are s3ftpd's CPU-seconds per\n")
	p("GiB ÷ the peer's (below 1 = s3ftpd is cheaper). Cluster: relayed ÷ direct-to-the-owner throughput; the relaying\n")
	p("node's CPU-s/GiB ÷ the owner's; Redis commands per relayed ÷ per direct transfer; PASV latency of a cluster node ÷\n")
	p("a single node's. `target=none` rows are references only.\n\n")
	if notes != "" {
		p("%s\n\n", notes)
	}
	for _, s := range r.sections {
		p("## %s\n\n%s\n", s.title, s.body)
	}
	p("## Where s3ftpd spends its CPU (perf)\n\n")
	if r.profile != "" {
		p("%s\n", r.profile)
	} else {
		p("%s\n\n", r.profileNote)
	}
	p("## Peers\n\n")
	for _, pn := range r.peerNotes {
		p("- **%s**: %s\n", pn[0], pn[1])
	}
	p("\n")
	if len(r.notes) > 0 {
		p("## Notes\n\n")
		for _, n := range r.notes {
			p("- %s\n", n)
		}
		p("\n")
	}
	p("## How the figures are measured\n\n%s\n", methodText)
	p("## How to reproduce\n\n%s", reproduceText)
	return b.String()
}

// cmdline is the command as the user gave it (without what the parent
// adds for the child in the network namespace).
func (r *report) cmdline() string {
	args := r.opt.args
	if tail := len(childArgs("")); r.opt.netns == "child" && len(args) >= tail {
		args = args[:len(args)-tail]
	}
	parts := []string{"go", "run", "./bench"}
	for _, a := range args {
		if strings.ContainsAny(a, " \t'\"") {
			a = strconv.Quote(a)
		}
		parts = append(parts, a)
	}
	return strings.Join(parts, " ")
}

const methodText = `- One S3 server process (versitygw ` + versitygwVersion + `, posix backend, on tmpfs when it fits) serves every
  client of the run: s3ftpd, the direct AWS SDK baseline, rclone and SFTPGo. Without a cached versitygw, ` + "`-short`" + `
  uses s3ftpd's embedded store (then s3ftpd's CPU and memory include the store's).
- The FTP client is github.com/jlaffaye/ftp in the harness process, passive mode (PASV); the payload is random
  bytes generated in memory, a download is read and counted, not stored.
- **Throughput**: each round does, one after the other, the SDK upload, the s3ftpd STOR, each peer's STOR, then
  the downloads, then deletes the objects; each ratio is the median of the per-round ratios. The SDK baseline makes
  the kind of requests s3ftpd makes (internal/s3fs): multipart, 4 parts in flight while the next is filled, CRC32
  per part, UNSIGNED-PAYLOAD, one GetObject stream for a download; the clients come from ` + "`s3fs.NewClient`" + `.
  Its parts are 8 MiB (as rclone's), s3ftpd runs with its defaults (5 MiB parts, which hold less memory). A STOR
  is timed until its 226 (object stored), a PUT until CompleteMultipartUpload returned.
- **Small files**: 16 logged-in sessions, each doing PASV+STOR of 4 KiB files in a loop, vs 16 goroutines doing
  PutObject; sessions are opened before the clock starts.
- **Upload memory**: a fresh s3ftpd; VmRSS while idle, then VmHWM is reset (` + "`/proc/PID/clear_refs`" + `)
  and read after the first STOR: peak minus idle.
- **Idle sessions**: another fresh s3ftpd; VmRSS with one session, then with N more logged-in sessions
  (raw sockets from 127.0.x.y source addresses, USER/PASS only), after 2 s to settle: the difference ÷ N. The
  benchmark user has a bcrypt hash at the lowest cost: s3ftpd spends one bcrypt per login at the dearest configured
  cost, and 10 000 logins at the default cost would take minutes of CPU.
- **Listing**: N zero-byte objects (created as files with the xattrs versitygw gives a PutObject, or by
  PutObject) under one prefix. LIST over PASV with the data connection open before LIST is sent: time to the first
  byte and to the end of the data, vs ListObjectsV2 paging (1 000 keys a page, delimiter /) on the same prefix;
  SFTPGo's LIST of as many objects under its own prefix right after s3ftpd's in each round.
- **Cluster** (needs ` + "`redis-server`" + `): a redis-server (no persistence) and two s3ftpd nodes with a ` + "`cluster:`" + `
  block on 127.0.0.2 (A) and 127.0.0.3 (B), same passive range, same store; no load balancer. The control connection
  is on A; for a relayed transfer the client dials the port of A's 227 on B's IP, B finds the owner in Redis and
  relays to A's relay listener (B first opens its passive ports with PASV+ABOR over the range: a node listens only
  on the ports it has offered itself; see the notes). STOR/RETR of the big size each way, interleaved over the rounds (order alternating),
  CPU of A, B, the store and the harness around each. Redis: ` + "`INFO commandstats`" + ` deltas over N small RETRs with
  the data connection to A, then N to B, minus the background rate of an idle window. PASV: PASV→227 on A vs on a
  third s3ftpd with the same config and no cluster block, alternating, each PASV followed by an untimed ABOR.
- **Latency mode** (` + "`-only latency`, `-rtt 20ms`" + `): a second s3ftpd and rclone reach the same store through an
  HTTP proxy (bench/s3proxy.go, loopback) that holds every S3 request for the RTT and records its operation, arrival
  and end. Workloads, servers interleaved per round: lftp ` + "`mput`" + ` of 4 KiB files into a new directory (lftp sends
  MFMT after each STOR when the server offers it), SIZE+MDTM pairs in a fresh session on those files, a cold LIST
  of objects put straight into S3, and FileZilla-like browsing (CWD, PWD, MLSD, SIZE, MDTM per directory). Times
  exclude the login except for lftp. The per-command table: one session, one command at a time, waiting after each
  reply until the proxy is quiet; sequential round trips = the longest chain of requests each starting after the
  previous one ended.
- **CPU seconds per GiB**: utime+stime from ` + "`/proc/PID/stat`" + ` of the server process and its live descendants
  (vsftpd's per-session processes; the Go servers have none), plus the children they reaped, read before and
  after each transfer while its session is logged in, summed over the rounds, ÷ GiB moved.
`

const reproduceText = "```sh\n" +
	"make bench                                   # = go run ./bench -out docs/benchmarks.md $(BENCHFLAGS)\n" +
	"go run ./bench -short                        # smoke, well under 2 minutes, only Go needed\n" +
	"go run ./bench -long -out docs/benchmarks.md # 10 GiB transfers and memory figure\n" +
	"go test ./bench/                             # runs -short end to end (skipped by go test -short)\n" +
	"```\n\n" +
	"The first full run builds versitygw " + versitygwVersion + " and rclone " + rcloneVersion + " with `go install` into\n" +
	"`~/.cache/s3ftpd-bench/bin` (several minutes; `-cache DIR` elsewhere) and reuses them afterwards. vsftpd is used\n" +
	"when installed (`apt-get install vsftpd`); the harness starts it in the foreground with its own config\n" +
	"(anonymous upload, 127.0.0.1 only).\n\n" +
	"SFTPGo " + sftpgoVersion + " cannot be `go install`ed (its go.mod has replace directives): when\n" +
	"`~/.cache/s3ftpd-bench/bin/sftpgo` is missing, a run without `-short` builds it from the source tree in\n" +
	"`~/.cache/s3ftpd-bench/src/sftpgo-" + sftpgoVersion + "` (`-sftpgo-src DIR` elsewhere; cloned from GitHub when the\n" +
	"directory does not exist), outside this repository; a failed build is reported in the Peers section and the run\n" +
	"goes on without it. By hand:\n\n" +
	"```sh\n" +
	"git clone --depth 1 --branch " + sftpgoVersion + " " + sftpgoRepo + " ~/.cache/s3ftpd-bench/src/sftpgo-" + sftpgoVersion + "\n" +
	"cd ~/.cache/s3ftpd-bench/src/sftpgo-" + sftpgoVersion + "\n" +
	sftpgoBundleCopy + "   # embedded with -tags bundle\n" +
	"CGO_ENABLED=0 go build -trimpath -tags " + sftpgoTags + " \\\n" +
	"  -ldflags '-s -w' -o ~/.cache/s3ftpd-bench/bin/sftpgo .\n" +
	"```\n\n" +
	"The harness runs it with a generated `sftpgo.json` (only FTP, on 127.0.0.1, passive ports " + sftpgoPasvRange + ",\n" +
	"in-memory data provider) and a `--loaddata-from` file with one user whose filesystem is S3 on the run's store\n" +
	"(path style, key prefix `sftpgo/`).\n\n" +
	"The CPU profile needs `perf` (linux-perf); the cluster part needs\n" +
	"`redis-server` (apt-get install redis-server; without it its figures are skipped, or fail under CI=true). Every\n" +
	"process the harness starts is stopped by its PID.\n\n" +
	"As root, the measurements run in a private network namespace whose only interface is the loopback (the harness\n" +
	"re-runs itself there with CLONE_NEWNET after building what needs the network): rclone's and SFTPGo's FTP servers\n" +
	"listen for passive connections on all addresses and have no option to bind one. Without root (or with\n" +
	"`-netns=no`) rclone and SFTPGo are not run and everything else listens on 127.0.0.1.\n\n" +
	"Other flags: `-server BIN` (a prebuilt s3ftpd), `-label TEXT` (how the report names it), `-store\n" +
	"versitygw|embedded`, `-peers=false`, `-perf yes|no`, `-size 256MiB`, `-only throughput,small,list,latency,rate,sessions,profile,cluster`,\n" +
	"`-rtt 20ms` (latency mode: the time added to each S3 request), `-sftpgo-src DIR`,\n" +
	"`-keep` (keep configs, logs and perf data), `-store-log` (versitygw access log, to see the S3 requests of each\n" +
	"FTP command), `-cpuprofile FILE` (pprof of the harness).\n"
