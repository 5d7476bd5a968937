package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"golang.org/x/crypto/bcrypt"

	"github.com/s3ftpd/s3ftpd/internal/ftp/ftptest"
	"github.com/s3ftpd/s3ftpd/internal/s3fs"
)

// process is a program the driver started; stop ends it by its PID.
type process struct {
	name    string
	cmd     *exec.Cmd
	log     string
	exited  chan struct{}
	waitErr error
}

// startProcess runs bin with its output in dir/name.log. It gets its own
// process group and SIGKILL if the driver dies (Pdeathsig).
func startProcess(dir, name string, env []string, bin string, args ...string) (*process, error) {
	logPath := filepath.Join(dir, name+".log")
	lf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = lf, lf
	cmd.Env = append(os.Environ(), env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		lf.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &process{name: name, cmd: cmd, log: logPath, exited: make(chan struct{})}
	go func() {
		p.waitErr = cmd.Wait()
		lf.Close()
		close(p.exited)
	}()
	return p, nil
}

func (p *process) pid() int { return p.cmd.Process.Pid }

func (p *process) running() bool {
	select {
	case <-p.exited:
		return false
	default:
		return true
	}
}

// stop sends SIGTERM to the PID, then SIGKILL after grace.
func (p *process) stop(grace time.Duration) error {
	if !p.running() {
		return fmt.Errorf("%s (pid %d) had exited: %v", p.name, p.pid(), p.waitErr)
	}
	_ = syscall.Kill(p.pid(), syscall.SIGTERM)
	select {
	case <-p.exited:
		return nil
	case <-time.After(grace):
	}
	_ = syscall.Kill(p.pid(), syscall.SIGKILL)
	<-p.exited
	return fmt.Errorf("%s (pid %d) needed SIGKILL after %v", p.name, p.pid(), grace)
}

// logLines counts the lines of p's log that contain each of words.
func (p *process) logLines(words ...string) map[string]int {
	out := map[string]int{}
	data, err := os.ReadFile(p.log)
	if err != nil {
		return out
	}
	for _, line := range strings.Split(string(data), "\n") {
		for _, w := range words {
			if strings.Contains(line, w) {
				out[w]++
			}
		}
	}
	return out
}

// server is a running s3ftpd and, with -store versitygw, its store.
type server struct {
	addr, user, pass string
	storePort        int // the S3 endpoint's port
	opsPort          int // ops.listen: /metrics
	passivePorts     int // size of the passive range
	proc             *process
	store            *process // nil for the embedded store
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// startServer writes s3ftpd's config into dir and starts bin on it: the
// embedded store, or (store "versitygw") a separate versitygw process.
// The session limits stay at their defaults (max_sessions 10 000,
// max_sessions_per_ip 100). With gctrace the Go runtime of s3ftpd writes
// a line per garbage collection into its log (GODEBUG=gctrace=1).
func startServer(ctx context.Context, dir, bin, store, versitygw string, gctrace bool) (*server, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	srv := &server{addr: fmt.Sprintf("127.0.0.1:%d", port), user: "load", pass: randomHex(8), passivePorts: 20}
	first, err := ftptest.PortRange(srv.passivePorts)
	if err != nil {
		return nil, err
	}
	// The lowest bcrypt cost: every login costs one bcrypt, and a thousand
	// logins at the default cost would take a minute of CPU at the start.
	hash, err := bcrypt.GenerateFromPassword([]byte(srv.pass), bcrypt.MinCost)
	if err != nil {
		return nil, err
	}
	if srv.opsPort, err = freePort(); err != nil {
		return nil, err
	}
	var storeYAML string
	switch store {
	case "embedded":
		if srv.storePort, err = freePort(); err != nil {
			return nil, err
		}
		storeYAML = fmt.Sprintf("  embedded:\n    dir: %q\n    listen: \"127.0.0.1:%d\"\n", filepath.Join(dir, "store"), srv.storePort)
	case "versitygw":
		st, port, yaml, err := startVersityGW(ctx, dir, versitygw)
		if err != nil {
			return nil, err
		}
		srv.store, srv.storePort, storeYAML = st, port, yaml
	default:
		return nil, fmt.Errorf("-store %q: want embedded or versitygw", store)
	}
	cfg := fmt.Sprintf("listen: %q\npassive:\n  ports: \"%d-%d\"\nstore:\n%susers:\n  - name: %s\n    password_hash: %q\n"+
		"log:\n  level: info\nops:\n  listen: \"127.0.0.1:%d\"\n", srv.addr, first, first+19, storeYAML, srv.user, hash, srv.opsPort)
	cfgPath := filepath.Join(dir, "s3ftpd.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		srv.stop()
		return nil, err
	}
	var env []string
	if gctrace {
		env = append(env, "GODEBUG=gctrace=1")
	}
	if srv.proc, err = startProcess(dir, "s3ftpd", env, bin, "--config", cfgPath); err != nil {
		srv.stop()
		return nil, err
	}
	if err := waitListening(ctx, srv.addr, srv.proc, 90*time.Second); err != nil {
		srv.stop()
		return nil, err
	}
	return srv, nil
}

// probe samples the running s3ftpd.
func (s *server) probe() probe {
	return probe{pid: s.proc.pid(), storePort: s.storePort, metrics: fmt.Sprintf("http://127.0.0.1:%d/metrics", s.opsPort)}
}

// stop ends s3ftpd, then the store; it returns what went wrong.
func (s *server) stop() error {
	var errs []error
	for _, p := range []*process{s.proc, s.store} {
		if p != nil {
			errs = append(errs, p.stop(30*time.Second))
		}
	}
	return errors.Join(errs...)
}

// waitListening waits until addr accepts a connection, p exits or limit
// passes.
func waitListening(ctx context.Context, addr string, p *process, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.Close()
			return nil
		}
		if !p.running() {
			data, _ := os.ReadFile(p.log)
			return fmt.Errorf("%s exited at start: %v\n%s", p.name, p.waitErr, data)
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("%s not listening on %s after %v", p.name, addr, limit)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// startVersityGW runs versitygw's posix backend as a separate process and
// creates a bucket; it returns the store: section for s3ftpd.
func startVersityGW(ctx context.Context, dir, bin string) (*process, int, string, error) {
	port, err := freePort()
	if err != nil {
		return nil, 0, "", err
	}
	root := filepath.Join(dir, "versitygw")
	if err := os.MkdirAll(root, 0o755); err != nil {
		return nil, 0, "", err
	}
	addr, access, secret := fmt.Sprintf("127.0.0.1:%d", port), "load"+randomHex(4), randomHex(16)
	p, err := startProcess(dir, "versitygw", nil, bin, "--port", addr, "--access", access, "--secret", secret,
		"--keep-alive", "--quiet", "posix", root)
	if err != nil {
		return nil, 0, "", err
	}
	fail := func(err error) (*process, int, string, error) {
		_ = p.stop(10 * time.Second)
		return nil, 0, "", err
	}
	if err := waitListening(ctx, addr, p, 60*time.Second); err != nil {
		return fail(err)
	}
	endpoint := "http://" + addr
	c, err := s3fs.NewClient(ctx, s3fs.ClientOptions{Region: "us-east-1", Endpoint: endpoint, PathStyle: true,
		AccessKey: access, SecretKey: secret})
	if err != nil {
		return fail(err)
	}
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if _, err := c.CreateBucket(cctx, &s3.CreateBucketInput{Bucket: aws.String("load")}); err != nil {
		return fail(fmt.Errorf("versitygw: create bucket: %w", err))
	}
	yaml := fmt.Sprintf("  s3:\n    bucket: load\n    region: us-east-1\n    endpoint: %q\n    path_style: true\n"+
		"    access_key: %q\n    secret_key: %q\n", endpoint, access, secret)
	return p, port, yaml, nil
}
