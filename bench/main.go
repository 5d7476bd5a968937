// Command bench measures s3ftpd against the AWS SDK talking directly to the
// same S3-compatible server, and against peer FTP servers on that same
// server, in one run. Absolute times on a shared machine are noise: every
// figure is a ratio of two measurements taken in the same run.
//
//	go run ./bench [-short] [-long] [-out docs/benchmarks.md]
//
// It prints one line per figure, `bench: <name> ratio=<x.xx> target=<y>`,
// then a table, and writes the report to -out. See docs/benchmarks.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"github.com/s3ftpd/s3ftpd/internal/fdlimit"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/crypto/bcrypt"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// options are the command line.
type options struct {
	short, long bool
	out         string
	server      string // a prebuilt s3ftpd binary; "" builds ./cmd/s3ftpd
	store       string // auto, versitygw, embedded
	peers       bool
	install     bool // go install versitygw/rclone, build SFTPGo into cacheDir when missing
	perf        bool
	cacheDir    string
	sftpgoSrc   string // SFTPGo's source tree, cloned there when missing
	keep        bool
	cpuprofile  string // pprof of the harness itself (the SDK baseline, the clients)
	only        map[string]bool
	netns       string        // auto, yes, no; child: this is the isolated child
	label       string        // names the s3ftpd under test in the report
	storeLog    bool          // versitygw writes an access log into the work directory
	rtt         time.Duration // latency mode: added to every S3 request
	args        []string      // as given, for the child

	// Sizes, set from short/long.
	bigSize      int64 // STOR/RETR and the memory figure
	rounds       int   // interleaved repetitions of each timed figure
	smallFiles   int   // per round
	smallClients int
	sessions     int
	listObjects  int
}

func parseFlags(args []string, stderr io.Writer) (options, error) {
	var o options
	fl := flag.NewFlagSet("bench", flag.ContinueOnError)
	fl.SetOutput(stderr)
	home, _ := os.UserHomeDir()
	fl.BoolVar(&o.short, "short", false, "smoke mode: small sizes, no peer that is not already built; well under 2 minutes")
	fl.BoolVar(&o.long, "long", false, "10 GiB transfers and memory figure")
	fl.StringVar(&o.out, "out", "", "write the Markdown report here (e.g. docs/benchmarks.md)")
	fl.StringVar(&o.server, "server", "", "use this s3ftpd binary instead of building ./cmd/s3ftpd")
	fl.StringVar(&o.store, "store", "auto", "S3 server: versitygw (separate process), embedded (s3ftpd's own store), auto")
	fl.BoolVar(&o.peers, "peers", true, "measure peer servers (rclone serve ftp, SFTPGo, vsftpd) when available")
	install := fl.String("install", "auto", "go install missing versitygw/rclone (and build SFTPGo) into -cache: yes, no, auto (= not with -short)")
	perf := fl.String("perf", "auto", "CPU profile of s3ftpd during a STOR with perf: yes, no, auto (= not with -short)")
	fl.StringVar(&o.cacheDir, "cache", filepath.Join(home, ".cache", "s3ftpd-bench", "bin"), "where the versitygw, rclone and sftpgo binaries are cached")
	fl.StringVar(&o.sftpgoSrc, "sftpgo-src", filepath.Join(home, ".cache", "s3ftpd-bench", "src", "sftpgo-"+sftpgoVersion),
		"SFTPGo "+sftpgoVersion+"'s source tree, built into -cache when the binary is missing (git clone of the tag when the directory is missing)")
	fl.BoolVar(&o.keep, "keep", false, "keep the work directory (configs, logs, perf data)")
	fl.StringVar(&o.cpuprofile, "cpuprofile", "", "write a CPU profile of the harness (SDK baseline and clients) to this file")
	fl.StringVar(&o.netns, "netns", "auto", "run the servers in a private network namespace with only a loopback: yes, no, auto (= when root)")
	fl.BoolVar(&o.storeLog, "store-log", false, "versitygw logs every S3 request to versitygw-access.log in the work directory (use with -keep; slows the store)")
	fl.StringVar(&o.label, "label", "", "name the s3ftpd under test in the report (default: the git commit of the tree)")
	size := fl.String("size", "", "override the STOR/RETR size, e.g. 256MiB or 2GiB")
	only := fl.String("only", "", "run only these parts (comma-separated: memory, throughput, small, list, latency, rate, sessions, profile, cluster)")
	fl.DurationVar(&o.rtt, "rtt", 20*time.Millisecond, "latency mode: time the proxy in front of the store adds to every S3 request")
	if err := fl.Parse(args); err != nil {
		return o, err
	}
	if fl.NArg() > 0 {
		return o, fmt.Errorf("unexpected argument %q", fl.Arg(0))
	}
	o.args = args
	switch o.netns {
	case "auto", "yes", "no", "child":
	default:
		return o, fmt.Errorf("-netns %q: want auto, yes or no", o.netns)
	}
	if o.short && o.long {
		return o, errors.New("-short and -long exclude each other")
	}
	switch o.store {
	case "auto", "versitygw", "embedded":
	default:
		return o, fmt.Errorf("-store %q: want auto, versitygw or embedded", o.store)
	}
	var err error
	if o.install, err = autoBool("-install", *install, !o.short); err != nil {
		return o, err
	}
	if o.perf, err = autoBool("-perf", *perf, !o.short); err != nil {
		return o, err
	}
	switch {
	case o.short:
		o.bigSize, o.rounds, o.smallFiles, o.smallClients, o.sessions, o.listObjects = 64<<20, 2, 200, 16, 1000, 2000
	case o.long:
		o.bigSize, o.rounds, o.smallFiles, o.smallClients, o.sessions, o.listObjects = 10<<30, 2, 4000, 16, 10000, 100000
	default:
		o.bigSize, o.rounds, o.smallFiles, o.smallClients, o.sessions, o.listObjects = 1<<30, 3, 4000, 16, 10000, 100000
	}
	if *size != "" {
		n, err := parseSize(*size)
		if err != nil {
			return o, fmt.Errorf("-size: %w", err)
		}
		o.bigSize = n
	}
	if *only != "" {
		o.only = map[string]bool{}
		for _, p := range strings.Split(*only, ",") {
			switch p = strings.TrimSpace(p); p {
			case "memory", "throughput", "small", "list", "latency", "rate", "sessions", "profile", "cluster":
				o.only[p] = true
			default:
				return o, fmt.Errorf("-only: unknown part %q", p)
			}
		}
	}
	return o, nil
}

// parseSize parses "64MiB", "1GiB" or a byte count.
func parseSize(s string) (int64, error) {
	mult := int64(1)
	for suf, m := range map[string]int64{"KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30} {
		if strings.HasSuffix(s, suf) {
			s, mult = strings.TrimSuffix(s, suf), m
			break
		}
	}
	n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("%q: want a size like 256MiB", s)
	}
	return n * mult, nil
}

// part reports whether a part of the benchmark runs (-only).
func (o options) part(name string) bool { return o.only == nil || o.only[name] }

func autoBool(name, v string, auto bool) (bool, error) {
	switch v {
	case "auto":
		return auto, nil
	case "yes", "true":
		return true, nil
	case "no", "false":
		return false, nil
	}
	return false, fmt.Errorf("%s %q: want yes, no or auto", name, v)
}

// harness is the state of one run.
type harness struct {
	opt    options
	stdout io.Writer
	logf   func(string, ...any)
	start  time.Time

	work        string // configs, logs, perf data
	dataDir     string // the store's data, vsftpd's files
	embeddedDir string // the embedded store's dir (embedded mode)
	procs       *procs
	s3ftpdBin   string
	ftpPass     string
	ftpHash     string // bcrypt of ftpPass at bcrypt.MinCost
	limitsKnown bool   // s3ftpd accepts the limits section
	embedded    bool   // the store runs inside s3ftpd
	pat         pattern
	rep         *report
}

// run is the whole benchmark; it returns the exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	opt, err := parseFlags(args, stderr)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintln(stderr, "bench:", err)
		return 2
	}
	h := &harness{
		opt:    opt,
		stdout: stdout,
		logf: func(format string, args ...any) {
			fmt.Fprintf(stderr, "# "+format+"\n", args...)
		},
		start:       time.Now(),
		ftpPass:     randomHex(8),
		limitsKnown: true,
		pat:         newPattern(),
		rep:         newReport(opt),
	}
	h.rep.live = stdout
	hash, err := bcrypt.GenerateFromPassword([]byte(h.ftpPass), bcrypt.MinCost)
	if err != nil {
		fmt.Fprintln(stderr, "bench:", err)
		return 1
	}
	h.ftpHash = string(hash)
	if opt.wantNetns() {
		code, err := h.runIsolated(ctx, stdout, stderr)
		if err != nil {
			fmt.Fprintln(stderr, "bench:", err)
		}
		return code
	}
	if err := h.run(ctx); err != nil {
		fmt.Fprintln(stderr, "bench:", err)
		return 1
	}
	if h.rep.coreFailed() {
		return 1
	}
	return 0
}

func (h *harness) run(ctx context.Context) (err error) {
	h.work, err = os.MkdirTemp("", "s3ftpd-bench-")
	if err != nil {
		return err
	}
	h.procs = &procs{dir: h.work, logf: h.logf}
	defer func() {
		h.procs.stopAll()
		if h.dataDir != "" && h.dataDir != h.work {
			_ = os.RemoveAll(h.dataDir)
		}
		if h.opt.keep {
			h.logf("kept %s", h.work)
		} else {
			_ = os.RemoveAll(h.work)
		}
	}()
	if h.opt.isolated() {
		if err := loopbackUp(); err != nil {
			return fmt.Errorf("bring up the loopback of the new network namespace: %w", err)
		}
		if err := checkOnlyLoopback(); err != nil {
			return err
		}
		h.rep.netns = "a private network namespace whose only interface is the loopback"
	} else {
		h.rep.netns = "the host's network namespace, loopback addresses only"
	}
	fdlimit.Raise(h.logf)
	if h.opt.cpuprofile != "" {
		f, err := os.Create(h.opt.cpuprofile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	h.rep.machine = machineFacts()

	if err := h.prepareServer(ctx); err != nil {
		return err
	}
	h.rep.versions["s3ftpd"] = h.opt.label
	if h.opt.label == "" {
		h.rep.versions["s3ftpd"] = s3ftpdVersion(ctx)
	}
	st, err := h.prepareStore(ctx)
	if err != nil {
		return err
	}
	h.rep.store = st.kind
	h.embedded = st.embedded

	// s3ftpd, fresh: memory during the first upload, then the timed figures
	// (the memory part runs its sequence on another s3ftpd).
	srv, err := h.startS3ftpd(ctx, st)
	if err != nil {
		return fmt.Errorf("start s3ftpd: %w", err)
	}
	peers := h.startPeers(ctx, st)

	if h.opt.part("memory") {
		h.memory(ctx, st, srv, peers)
	}
	if h.opt.part("throughput") {
		h.throughput(ctx, st, srv, peers)
	}
	if h.opt.part("small") {
		h.smallFiles(ctx, st, srv, peers)
	}
	if h.opt.part("list") {
		h.listing(ctx, st, srv, peers)
	}
	if h.opt.part("latency") {
		h.latency(ctx, st)
	}
	if h.opt.part("rate") {
		h.rateLimit(ctx, st)
	}
	if h.opt.perf && h.opt.part("profile") {
		h.profile(ctx, srv)
	} else {
		h.rep.profileNote = "not taken (-short, -perf=no, or -only without profile)"
	}
	for _, p := range peers {
		_ = p.proc.stop()
	}
	// While srv runs: with the embedded store it serves the nodes' store.
	if h.opt.part("cluster") {
		h.cluster(ctx, st, srv)
	}
	if err := srv.proc.stop(); err != nil {
		h.logf("warning: %v", err)
	}

	// s3ftpd, fresh again: RSS per idle session without the heap left by
	// the transfers.
	if h.opt.part("sessions") {
		h.idleSessions(ctx, st)
	}

	h.rep.elapsed = time.Since(h.start)
	if err := ctx.Err(); err != nil {
		return err
	}
	h.rep.print(h.stdout)
	if h.opt.out != "" {
		old, _ := os.ReadFile(h.opt.out)
		if err := os.WriteFile(h.opt.out, []byte(h.rep.markdown(keptNotes(string(old)))), 0o644); err != nil {
			return err
		}
		h.logf("wrote %s", h.opt.out)
	}
	return nil
}

// moduleRoot is the directory of go.mod (the harness may run from bench/
// under go test).
func moduleRoot(ctx context.Context) (string, error) {
	out, err := runCmd(ctx, time.Minute, nil, "", "go", "env", "GOMOD")
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %v: %s", err, out)
	}
	gomod := strings.TrimSpace(out)
	if gomod == "" || gomod == os.DevNull {
		return "", errors.New("not inside the s3ftpd module")
	}
	return filepath.Dir(gomod), nil
}

// prepareServer builds s3ftpd from the working tree (or takes -server).
func (h *harness) prepareServer(ctx context.Context) error {
	if h.opt.server != "" {
		h.s3ftpdBin = h.opt.server
		return nil
	}
	root, err := moduleRoot(ctx)
	if err != nil {
		return err
	}
	h.s3ftpdBin = filepath.Join(h.work, "s3ftpd")
	h.logf("building s3ftpd")
	if out, err := runCmd(ctx, 10*time.Minute, nil, root, "go", "build", "-o", h.s3ftpdBin, "./cmd/s3ftpd"); err != nil {
		return fmt.Errorf("go build ./cmd/s3ftpd: %v\n%s", err, out)
	}
	if h.opt.part("memory") {
		// The production build (docs/operations.md), for the memory figures.
		if out, err := runCmd(ctx, 10*time.Minute, nil, root, "go", "build", "-tags", "noembed", "-o", noembedBin(h.s3ftpdBin), "./cmd/s3ftpd"); err != nil {
			h.logf("go build -tags noembed ./cmd/s3ftpd: %v\n%s", err, out)
		}
	}
	return nil
}

// prepareStore picks the data directory and starts the S3 server.
func (h *harness) prepareStore(ctx context.Context) (*s3store, error) {
	h.dataDir = h.pickDataDir()
	vgw := filepath.Join(h.opt.cacheDir, "versitygw")
	useVGW := false
	switch h.opt.store {
	case "versitygw":
		useVGW = true
	case "auto":
		useVGW = exists(vgw) || h.opt.install
	}
	if useVGW && !exists(vgw) {
		if _, err := h.tool(ctx, "versitygw", "github.com/versity/versitygw/cmd/versitygw@"+versitygwVersion); err != nil {
			if h.opt.store == "versitygw" {
				return nil, err
			}
			h.logf("versitygw unavailable (%v); using s3ftpd's embedded store", firstLineOf(err.Error()))
			useVGW = false
		}
	}
	if useVGW {
		h.rep.versions["versitygw"] = versitygwVersion + " (go install github.com/versity/versitygw/cmd/versitygw@" + versitygwVersion + ")"
		h.logf("starting versitygw in %s", h.dataDir)
		return h.startVersityGW(ctx, vgw, filepath.Join(h.dataDir, "versitygw"))
	}
	h.rep.versions["versitygw"] = versitygwVersion + " (embedded in s3ftpd, see go.mod)"
	h.embeddedDir = filepath.Join(h.dataDir, "embedded")
	h.logf("using s3ftpd's embedded store in %s", h.embeddedDir)
	return embeddedStore(h.embeddedDir)
}

const (
	versitygwVersion = "v1.8.0"
	rcloneVersion    = "v1.76.0"
)

// install builds a peer or the S3 server with go install into the cache.
func (h *harness) install(ctx context.Context, name, pkg string) error {
	if !h.opt.install {
		return fmt.Errorf("%s is not in %s and -install=no (run without -short, or: GOBIN=%s go install %s)",
			name, h.opt.cacheDir, h.opt.cacheDir, pkg)
	}
	if err := os.MkdirAll(h.opt.cacheDir, 0o755); err != nil {
		return err
	}
	h.logf("go install %s (minutes; cached in %s afterwards)", pkg, h.opt.cacheDir)
	out, err := runCmd(ctx, 20*time.Minute, []string{"GOBIN=" + h.opt.cacheDir, "GOFLAGS=-buildvcs=false"}, os.TempDir(), "go", "install", pkg)
	if err != nil {
		return fmt.Errorf("go install %s: %v\n%s", pkg, err, lastLines(out, 10))
	}
	return nil
}

// pickDataDir puts the store on tmpfs (less disk noise) when it has room
// for the largest objects of a round, else in the temp directory.
func (h *harness) pickDataDir() string {
	need := 3*h.opt.bigSize + 2<<30
	var fs syscall.Statfs_t
	if syscall.Statfs("/dev/shm", &fs) == nil {
		avail := int64(fs.Bavail) * fs.Bsize
		if avail > need && memAvailable()/2 > need {
			if d, err := os.MkdirTemp("/dev/shm", "s3ftpd-bench-"); err == nil {
				h.rep.dataDir = "tmpfs (/dev/shm)"
				return d
			}
		}
	}
	h.rep.dataDir = "disk (" + os.TempDir() + ")"
	return filepath.Join(h.work, "data")
}

// startPeers starts the peer servers that are available; one that cannot
// run is reported, not fatal.
func (h *harness) startPeers(ctx context.Context, st *s3store) []*ftpServer {
	var peers []*ftpServer
	if !h.opt.peers {
		h.rep.peerNote("rclone", "skipped (-peers=false)")
		h.rep.peerNote("SFTPGo", "skipped (-peers=false)")
		h.rep.peerNote("vsftpd", "skipped (-peers=false)")
		return nil
	}
	rclone := filepath.Join(h.opt.cacheDir, "rclone")
	switch {
	case !h.opt.isolated():
		// goftp.io's server (rclone serve ftp) listens for passive
		// connections on all addresses, with no option to bind one.
		h.rep.peerNote("rclone", "not run: it binds its passive ports on all addresses; it runs only in the "+
			"loopback-only network namespace, which needs root (-netns)")
	case !exists(rclone):
		h.rep.peerNote("rclone", fmt.Sprintf("not run: not in %s (built by a run without -short, or: GOBIN=%s go install github.com/rclone/rclone@%s)",
			h.opt.cacheDir, h.opt.cacheDir, rcloneVersion))
	default:
		h.rep.versions["rclone"] = firstLine(runCmd(ctx, 30*time.Second, nil, "", rclone, "version")) +
			" (go install github.com/rclone/rclone@" + rcloneVersion + ")"
		if p, err := h.startRclone(ctx, rclone, st); err != nil {
			h.rep.peerNote("rclone", "failed to start: "+firstLineOf(err.Error()))
		} else {
			peers = append(peers, p)
			h.rep.peerNote("rclone", "rclone serve ftp on an S3 remote (same store), chunk size "+
				fmt.Sprint(partSize>>20)+" MiB, upload concurrency "+fmt.Sprint(partConcurrency))
		}
	}
	if p := h.sftpgoPeer(ctx, st); p != nil {
		peers = append(peers, p)
	}
	if bin := vsftpdBinary(); bin == "" {
		h.rep.peerNote("vsftpd", "not run: not installed (optional reference: apt-get install vsftpd)")
	} else {
		h.rep.versions["vsftpd"] = vsftpdVersion(ctx, bin)
		if p, err := h.startVsftpd(ctx, bin, filepath.Join(h.dataDir, "vsftpd")); err != nil {
			h.rep.peerNote("vsftpd", "failed to start: "+firstLineOf(err.Error()))
		} else {
			peers = append(peers, p)
			h.rep.peerNote("vsftpd", "vsftpd on local "+h.rep.dataDir+", anonymous upload; a reference without S3")
		}
	}
	return peers
}

func exists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

func firstLine(out string, err error) string {
	if err != nil {
		return "unknown (" + firstLineOf(err.Error()) + ")"
	}
	return firstLineOf(out)
}

func firstLineOf(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
