// Package e2e drives the built s3ftpd binary with real clients (curl, lftp,
// python3 ftplib). A missing tool skips its test on a developer machine and
// fails it under CI=true, where .ci/run installs everything.
package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/s3ftpd/s3ftpd/internal/ftp/ftptest"
)

var binary string // built once in TestMain

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "s3ftpd-e2e-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "s3ftpd")
	out, err := exec.Command("go", "build", "-o", binary, "github.com/s3ftpd/s3ftpd/cmd/s3ftpd").CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "building s3ftpd: %v\n%s", err, out)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// requireTool skips without the tool, except under CI=true where it fails.
func requireTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is not installed (CI must install it): %v", name, err)
		}
		t.Skipf("%s not installed", name)
	}
	return p
}

// node is one running s3ftpd process.
type node struct {
	*proc
	dir  string // its data directory (embedded store)
	Addr string // control address
	Port int
	// PassiveFirst..PassiveLast is its passive port range.
	PassiveFirst, PassiveLast int
	opsPort                   int // when ops.listen is configured
	cfgPath                   string
}

// proc is a process a test started; its cleanup stops it by PID.
type proc struct {
	t       *testing.T
	name    string
	cmd     *exec.Cmd
	out     *syncBuffer
	exited  chan struct{}
	waitErr error
}

func startProc(t *testing.T, name string, args ...string) *proc {
	t.Helper()
	p := &proc{t: t, name: filepath.Base(name), cmd: exec.Command(name, args...), out: &syncBuffer{}, exited: make(chan struct{})}
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.waitErr = p.cmd.Wait(); close(p.exited) }()
	t.Cleanup(func() {
		p.stop(syscall.SIGTERM, 20*time.Second)
		if t.Failed() {
			t.Logf("%s output:\n%s", p.name, p.out.String())
		}
	})
	return p
}

// waitListening waits until addr accepts connections; fatal if the
// process exits first.
func (p *proc) waitListening(addr string, timeout time.Duration) {
	p.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.Close()
			return
		}
		select {
		case <-p.exited:
			p.t.Fatalf("%s exited at start: %v\n%s", p.name, p.waitErr, p.out.String())
		default:
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("%s did not listen on %s\n%s", p.name, addr, p.out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// freePort is a port free on every address (tests bind 127.0.0.x and
// "[::]"; packages run in parallel), as far as one can tell in advance.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", ":0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// nodeOptions change the generated config of startNode.
type nodeOptions struct {
	dataDir string // embedded store data (a new temp dir if empty)
	passive string // YAML lines added under passive:
	extra   string // YAML added at the top level
	users   string // a users: block instead of demo/demo and ro/ro
}

// startNode runs s3ftpd with the embedded store.
func startNode(t *testing.T, o nodeOptions) *node {
	t.Helper()
	dataDir := o.dataDir
	if dataDir == "" {
		dataDir = t.TempDir()
	}
	port := freePort(t)
	first := ftptest.FreePortRange(t, 10)
	// Both were free and closed again: the range can hold the control
	// port (config validation refuses that; seen in CI-like runs).
	for i := 0; i < 20 && port >= first && port < first+10; i++ {
		first = ftptest.FreePortRange(t, 10)
	}
	users := o.users
	if users == "" {
		users = `users:
  - name: demo
    password: demo
  - name: ro
    password: ro
    read_only: true`
	}
	cfg := fmt.Sprintf(`listen: "127.0.0.1:%d"
passive:
  ports: "%d-%d"
%s
store:
  embedded:
    dir: %q
%s
timeouts:
  login_fail_delay: 10ms
%s`, port, first, first+9, o.passive, filepath.Join(dataDir, "store"), users, o.extra)
	cfgPath := filepath.Join(t.TempDir(), "s3ftpd.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	n := &node{proc: startProc(t, binary, "--config", cfgPath), dir: dataDir, Addr: fmt.Sprintf("127.0.0.1:%d", port),
		Port: port, PassiveFirst: first, PassiveLast: first + 9, cfgPath: cfgPath}
	n.waitListening(n.Addr, 60*time.Second)
	return n
}

// stop signals the process by PID and waits; SIGKILL after timeout.
func (p *proc) stop(sig syscall.Signal, timeout time.Duration) error {
	select {
	case <-p.exited:
		return p.waitErr
	default:
	}
	_ = syscall.Kill(p.cmd.Process.Pid, sig)
	select {
	case <-p.exited:
	case <-time.After(timeout):
		p.t.Errorf("%s (pid %d) did not exit %v after %v; killing", p.name, p.cmd.Process.Pid, timeout, sig)
		_ = syscall.Kill(p.cmd.Process.Pid, syscall.SIGKILL)
		<-p.exited
	}
	return p.waitErr
}

// logged waits (up to 10 s) until the process's output contains s: its
// log reaches us through a pipe, a moment after the client saw the reply.
func (p *proc) logged(s string) bool {
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if strings.Contains(p.out.String(), s) {
			return true
		}
	}
	return false
}

// peakRSS is the process's high-water resident set (VmHWM), in bytes.
func (p *proc) peakRSS() int64 { return procStatus(p.t, p.cmd.Process.Pid, "VmHWM") }
func (p *proc) rss() int64     { return procStatus(p.t, p.cmd.Process.Pid, "VmRSS") }

func procStatus(t *testing.T, pid int, field string) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10
		}
	}
	t.Fatalf("no %s in /proc/%d/status", field, pid)
	return 0
}

// run runs a client command with a timeout and returns its combined output.
func run(t *testing.T, timeout time.Duration, stdin []byte, name string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func mustRun(t *testing.T, timeout time.Duration, stdin []byte, name string, args ...string) string {
	t.Helper()
	out, err := run(t, timeout, stdin, name, args...)
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return out
}

// TestSIGHUPKeepsServing: SIGHUP (logrotate, systemctl reload) never ends
// the process, with or without a certificate to reload.
func TestSIGHUPKeepsServing(t *testing.T) {
	n := startNode(t, nodeOptions{})
	if err := syscall.Kill(n.cmd.Process.Pid, syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(n.out.String(), "SIGHUP") {
		select {
		case <-n.exited:
			t.Fatalf("SIGHUP ended the process: %v\n%s", n.waitErr, n.out.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("no SIGHUP log line:\n%s", n.out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	c := goClient(t, n.Addr, "127.0.0.1")
	if err := c.NoOp(); err != nil {
		t.Fatalf("not serving after SIGHUP: %v", err)
	}
	c.Quit()
}

// TestXferLog: log.xferlog gets one xferlog(5) line per file transfer, and
// SIGHUP reopens it (logrotate moves the file, then signals).
func TestXferLog(t *testing.T) {
	curl := requireTool(t, "curl")
	logPath := filepath.Join(t.TempDir(), "xferlog")
	n := startNode(t, nodeOptions{extra: fmt.Sprintf("log:\n  xferlog: %q\n", logPath)})
	src, _ := randomFile(t, t.TempDir(), "x.bin", 3000)
	base := fmt.Sprintf("ftp://127.0.0.1:%d/", n.Port)
	mustRun(t, time.Minute, nil, curl, "-sS", "--user", "demo:demo", "-T", src, base+"my%20x.bin")
	mustRun(t, time.Minute, nil, curl, "-sS", "--user", "demo:demo", "-o", filepath.Join(t.TempDir(), "b"), base+"my%20x.bin")
	b, err := os.ReadFile(logPath)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	// Mon Jan _2 15:04:05 2006 secs host size name type _ dir r user ftp 0 * status
	// (a blank in a name becomes "_": the format is split on blanks)
	want := []string{" 127.0.0.1 3000 /my_x.bin b _ i r demo ftp 0 * c", " 127.0.0.1 3000 /my_x.bin b _ o r demo ftp 0 * c"}
	if len(lines) != 2 || !strings.HasSuffix(lines[0], want[0]) || !strings.HasSuffix(lines[1], want[1]) {
		t.Fatalf("xferlog:\n%s\nwant lines ending %q", b, want)
	}
	if f := strings.Fields(lines[0]); len(f) != 18 {
		t.Fatalf("xferlog line has %d fields, want 18: %q", len(f), lines[0])
	}
	rotated := logPath + ".1"
	os.Rename(logPath, rotated)
	syscall.Kill(n.cmd.Process.Pid, syscall.SIGHUP)
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(n.out.String(), "SIGHUP: reloaded") {
		if time.Now().After(deadline) {
			t.Fatalf("no reopen logged:\n%s", n.out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	mustRun(t, time.Minute, nil, curl, "-sS", "--user", "demo:demo", "-o", filepath.Join(t.TempDir(), "c"), base+"my%20x.bin")
	if b, _ := os.ReadFile(logPath); !strings.Contains(string(b), "/my_x.bin b _ o r demo") {
		t.Fatalf("after SIGHUP the new file has %q", b)
	}
	if b, _ := os.ReadFile(rotated); strings.Count(string(b), "\n") != 2 {
		t.Fatalf("the rotated file got more lines: %q", b)
	}
}

// TestDropBoxWithCurl: an upload-only account (permissions: [upload]) as
// partners use it with curl: a new file goes in; listing, downloading and
// overwriting are refused with 550; a login from outside allowed_cidrs
// gets 530 whatever the password.
func TestDropBoxWithCurl(t *testing.T) {
	curl := requireTool(t, "curl")
	n := startNode(t, nodeOptions{users: `users:
  - name: drop
    password: d
    permissions: [upload]
  - name: office
    password: o
    allowed_cidrs: ["10.0.0.0/8"]
`})
	base := fmt.Sprintf("ftp://127.0.0.1:%d/", n.Port)
	src, _ := randomFile(t, t.TempDir(), "in.csv", 1000)
	auth := []string{"-sS", "--user", "drop:d"}
	mustRun(t, time.Minute, nil, curl, append(auth, "-T", src, base+"in.csv")...)
	for what, args := range map[string][]string{
		"download":  {"-o", filepath.Join(t.TempDir(), "x"), base + "in.csv"},
		"list":      {base},
		"overwrite": {"-T", src, base + "in.csv"},
	} {
		if out, err := run(t, time.Minute, nil, curl, append(auth, args...)...); err == nil {
			t.Errorf("drop box %s worked: %s", what, out)
		}
	}
	// curl reads a 550 on SIZE as "file does not exist": the server's audit
	// lines say what was refused.
	n.logged("verb=MKD") // (the last refusal's line; wait for the log to catch up)
	if k := strings.Count(n.out.String(), "user=drop verb="); k < 3 || strings.Count(n.out.String(), "code=550") < 3 {
		t.Errorf("%d audit lines for the drop box refusals, want 3 with 550", k)
	}
	if out, err := run(t, time.Minute, nil, curl, "-sS", "--user", "office:o", base); err == nil || !strings.Contains(out, "530") {
		t.Errorf("login from outside allowed_cidrs: err=%v %s", err, out)
	}
	if !n.logged("msg=audit") {
		t.Error("refusals left no audit line")
	}
}

// TestAuthHookWithCurl: users from an external HTTP hook (a real HTTP
// server here) log in with curl; a refusal is 530; a hook that is down is
// 421 with a log line, never a login.
func TestAuthHookWithCurl(t *testing.T) {
	curl := requireTool(t, "curl")
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req map[string]any
		json.NewDecoder(r.Body).Decode(&req)
		if req["user"] == "partner" && req["password"] == "pw" && r.Header.Get("Authorization") == "Bearer k" {
			w.Write([]byte(`{"home": "/partners/one", "permissions": ["upload", "list", "download"]}`))
			return
		}
		w.WriteHeader(http.StatusUnauthorized)
	}))
	defer hook.Close()
	n := startNode(t, nodeOptions{extra: fmt.Sprintf(`auth:
  http: {url: %q, header: Authorization, secret: "Bearer k", timeout: 2s}
`, hook.URL)})
	base := fmt.Sprintf("ftp://127.0.0.1:%d/", n.Port)
	src, data := randomFile(t, t.TempDir(), "p.bin", 5000)
	mustRun(t, time.Minute, nil, curl, "-sS", "--user", "partner:pw", "-T", src, base+"p.bin")
	// The file is in the partner's home, as the demo user (root) sees it.
	if got := mustRun(t, time.Minute, nil, curl, "-sS", "--user", "demo:demo", base+"partners/one/p.bin"); got != string(data) {
		t.Errorf("hook user's upload is not in its home")
	}
	if out, err := run(t, time.Minute, nil, curl, "-sS", "--user", "partner:wrong", base); err == nil || !strings.Contains(out, "530") {
		t.Errorf("refused by the hook: err=%v %s", err, out)
	}
	hook.Close()
	// (curl reports the 421 at PASS as exit 28, "Timeout was reached".)
	if out, err := run(t, time.Minute, nil, curl, "-sS", "--user", "partner:pw", base); err == nil {
		t.Errorf("hook down, yet a login: %s", out)
	}
	if !n.logged("authentication backend failed") {
		t.Error("no log line for the hook being down")
	}
}

// TestGroupsAndBucketHomes: users of a group get its home (with {user})
// in another bucket; a hook profile names a group, a bucket home, a file
// size limit and object properties. The files land in those buckets (the
// embedded store keeps a bucket as a directory, object metadata as
// xattrs), the default bucket's users do not see them, and a file over
// the hook's limit is refused (552) and not stored.
func TestGroupsAndBucketHomes(t *testing.T) {
	curl := requireTool(t, "curl")
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req map[string]any
		json.NewDecoder(r.Body).Decode(&req)
		if req["user"] == "partner" && req["password"] == "pw" {
			w.Write([]byte(`{"group": "drop", "max_file_size": "4KB",
				"object": {"metadata": {"via": "hook-profile"}}}`))
			return
		}
		w.WriteHeader(http.StatusUnauthorized)
	}))
	defer hook.Close()
	n := startNode(t, nodeOptions{users: `groups:
  - name: archive
    home: s3://archive/{user}
  - name: drop
    home: s3://dropbox/in/{user}
    permissions: [upload, list]
users:
  - {name: demo, password: demo}
  - {name: arc, password: a, group: archive}
`, extra: fmt.Sprintf("auth:\n  http: {url: %q, timeout: 2s}\n", hook.URL)})
	base := fmt.Sprintf("ftp://127.0.0.1:%d/", n.Port)
	dir := t.TempDir()
	small, data := randomFile(t, dir, "small.bin", 3000)
	big, _ := randomFile(t, dir, "big.bin", 5000)
	store := filepath.Join(n.dir, "store", "buckets") // versitygw posix: a directory per bucket

	mustRun(t, time.Minute, nil, curl, "-sS", "--user", "arc:a", "-T", small, base+"a.bin")
	if got, err := os.ReadFile(filepath.Join(store, "archive", "arc", "a.bin")); err != nil || !bytes.Equal(got, data) {
		t.Errorf("group user's file not in bucket archive under arc/: %v", err)
	}
	if got := mustRun(t, time.Minute, nil, curl, "-sS", "--user", "arc:a", base+"a.bin"); got != string(data) {
		t.Error("group user cannot read back its file")
	}
	if out, err := run(t, time.Minute, nil, curl, "-sS", "--user", "demo:demo", base+"arc/a.bin"); err == nil {
		t.Errorf("the default bucket's user sees another bucket's file: %q", out)
	}

	mustRun(t, time.Minute, nil, curl, "-sS", "--user", "partner:pw", "-T", small, base+"p.bin")
	stored := filepath.Join(store, "dropbox", "in", "partner", "p.bin")
	if got, err := os.ReadFile(stored); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("hook user's file not in bucket dropbox under in/partner/: %v", err)
	}
	if !hasXattrValue(t, stored, "hook-profile") {
		t.Error("the hook profile's object metadata is not on the object")
	}
	if out, err := run(t, time.Minute, nil, curl, "-sS", "--user", "partner:pw", "-T", big, base+"big.bin"); err == nil || !strings.Contains(out, "Exceeded storage allocation") { // curl's words for 552
		t.Errorf("upload over the profile's max_file_size: err=%v %s", err, out)
	}
	if _, err := os.Stat(filepath.Join(store, "dropbox", "in", "partner", "big.bin")); err == nil {
		t.Error("a refused upload was stored")
	}
	// The group's permissions apply: no download.
	if out, err := run(t, time.Minute, nil, curl, "-sS", "--user", "partner:pw", base+"p.bin"); err == nil {
		t.Errorf("download by an upload+list profile worked: %q", out)
	}
}

// hasXattrValue reports whether one of the file's extended attributes
// holds want.
func hasXattrValue(t *testing.T, path, want string) bool {
	t.Helper()
	buf := make([]byte, 64<<10)
	n, err := syscall.Listxattr(path, buf)
	if err != nil {
		t.Fatalf("listxattr %s: %v", path, err)
	}
	for _, name := range strings.Split(strings.TrimRight(string(buf[:n]), "\x00"), "\x00") {
		val := make([]byte, 64<<10)
		if m, err := syscall.Getxattr(path, name, val); err == nil && strings.Contains(string(val[:m]), want) {
			return true
		}
	}
	return false
}
