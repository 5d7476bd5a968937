package main

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"net/textproto"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// ftpServer is one FTP server under test.
type ftpServer struct {
	name       string // s3ftpd, rclone, vsftpd
	addr       string // control host:port
	user, pass string
	proc       *proc
	// base is the directory the benchmark writes into ("/pub" for
	// vsftpd's anonymous uploads).
	base string
	// Where base is stored: a key prefix in the store (S3 servers), or a
	// local directory (vsftpd). The memory part puts objects there.
	keyPrefix, localDir string
}

// passiveRange picks n consecutive ports below the ephemeral range
// (32768+), so that a passive port never collides with a client's source
// port, and checks that the first and last are free.
func passiveRange(n int) (int, int, error) { return passiveRangeOn(n, "127.0.0.1") }

// passiveRangeOn is passiveRange with the ports free on each of ips.
func passiveRangeOn(n int, ips ...string) (int, int, error) {
	for range 50 {
		first := 20000 + rand.IntN(120)*100
		last := first + n - 1
		ok := true
		for _, ip := range ips {
			for _, p := range []int{first, last} {
				ln, err := net.Listen("tcp", net.JoinHostPort(ip, strconv.Itoa(p)))
				if err != nil {
					ok = false
					break
				}
				ln.Close()
			}
		}
		if ok {
			return first, last, nil
		}
	}
	return 0, 0, fmt.Errorf("no free passive port range of %d below 32768", n)
}

// s3ftpdHome is the benchmark user's home (chroot): its objects are under
// this key prefix.
const s3ftpdHome = "s3ftpd"

// nodeConfig is what differs between the s3ftpd processes of a run.
type nodeConfig struct {
	file                string // config file name in the work directory
	listen              string // control host:port
	pasvFirst, pasvLast int
	listenIP            string // passive.listen_ip; "" = the control listener's
	withLimits          bool   // the limits section (session caps off), which older builds reject
	// viaS3 reaches an embedded store over S3, as an external one (the
	// cluster's nodes share the store of the first s3ftpd).
	viaS3  bool
	extra  string // YAML appended (the cluster block)
	limits string // lines added to the limits section (withLimits)
}

// s3ftpdConfig writes s3ftpd's YAML config for store st.
func (h *harness) s3ftpdConfig(st *s3store, nc nodeConfig) (string, error) {
	var b strings.Builder
	fmt.Fprintf(&b, "listen: %q\n", nc.listen)
	fmt.Fprintf(&b, "passive:\n  ports: \"%d-%d\"\n", nc.pasvFirst, nc.pasvLast)
	if nc.listenIP != "" {
		fmt.Fprintf(&b, "  listen_ip: %q\n", nc.listenIP)
	}
	b.WriteString("timeouts:\n  idle: 30m\n  data_accept: 30s\n  transfer_stall: 2m\n  login_fail_delay: 1s\n")
	b.WriteString("store:\n")
	if st.embedded && !nc.viaS3 {
		fmt.Fprintf(&b, "  embedded:\n    dir: %q\n    listen: %q\n    access_key: %q\n    secret_key: %q\n",
			h.embeddedDir, st.listen, st.access, st.secret)
		b.WriteString("  s3:\n")
	} else {
		fmt.Fprintf(&b, "  s3:\n    bucket: %q\n    region: us-east-1\n    endpoint: %q\n    path_style: true\n"+
			"    access_key: %q\n    secret_key: %q\n", st.bucket, st.endpoint, st.access, st.secret)
	}
	// s3ftpd's defaults (part_size 5 MiB, concurrency 4, buffer_budget
	// 256 MiB), as it ships; the direct SDK baseline and rclone use 8 MiB
	// parts, 4 in flight.
	// A bcrypt hash at the lowest cost: every login (even with a plain
	// password) spends one bcrypt at the dearest configured cost, and
	// 10 000 logins at the default cost would take minutes of CPU.
	fmt.Fprintf(&b, "users:\n  - name: bench\n    password_hash: %q\n    home: /%s\n", h.ftpHash, s3ftpdHome)
	b.WriteString("log:\n  level: warn\n")
	if nc.withLimits {
		// The idle-session figure holds 10 000 sessions from a few hundred
		// source addresses: lift the per-server and per-IP caps.
		b.WriteString("limits:\n  max_sessions: 0\n  max_sessions_per_ip: 0\n  login_failures_per_ip: 0\n")
		b.WriteString(nc.limits)
	}
	b.WriteString(nc.extra)
	path := filepath.Join(h.work, nc.file)
	return path, os.WriteFile(path, []byte(b.String()), 0o600)
}

// startS3ftpd starts a fresh s3ftpd process on st and waits until it
// answers FTP (and, for the embedded store, S3).
func (h *harness) startS3ftpd(ctx context.Context, st *s3store) (*ftpServer, error) {
	return h.startS3ftpdBin(ctx, st, h.s3ftpdBin, "s3ftpd.yaml")
}

// startS3ftpdBin starts the s3ftpd binary bin with its config in file.
func (h *harness) startS3ftpdBin(ctx context.Context, st *s3store, bin, file string) (*ftpServer, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	first, last, err := passiveRange(100)
	if err != nil {
		return nil, err
	}
	listen := fmt.Sprintf("127.0.0.1:%d", port)
	var p *proc
	for _, withLimits := range []bool{h.limitsKnown, false} {
		cfg, err := h.s3ftpdConfig(st, nodeConfig{file: file, listen: listen, pasvFirst: first, pasvLast: last, withLimits: withLimits})
		if err != nil {
			return nil, err
		}
		p, err = h.procs.start("s3ftpd", nil, bin, "--config", cfg)
		if err != nil {
			return nil, err
		}
		err = waitFTP(ctx, listen, p, 90*time.Second)
		if err == nil {
			h.limitsKnown = withLimits
			break
		}
		_ = p.stop()
		if !withLimits || !strings.Contains(p.tail(20), "limits") {
			return nil, err
		}
		h.logf("s3ftpd rejects the limits section; running without it (per-IP caps may apply)")
	}
	srv := &ftpServer{name: "s3ftpd", addr: listen, user: "bench", pass: h.ftpPass, proc: p, base: "/", keyPrefix: s3ftpdHome + "/"}
	if st.embedded {
		if err := st.connectEmbedded(ctx, p); err != nil {
			_ = p.stop()
			return nil, err
		}
	}
	return srv, nil
}

// waitFTP waits until addr answers with a 220 greeting, or p exits.
func waitFTP(ctx context.Context, addr string, p *proc, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	var last error
	for time.Now().Before(deadline) {
		if !p.running() {
			return fmt.Errorf("%s exited: %v\n%s", p.name, p.waitErr, p.tail(15))
		}
		if last = probeFTP(ctx, addr); last == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	return fmt.Errorf("%s: no FTP greeting on %s after %v: %v\n%s", p.name, addr, limit, last, p.tail(15))
}

func probeFTP(ctx context.Context, addr string) error {
	d := net.Dialer{Timeout: 2 * time.Second}
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	r := textproto.NewReader(bufio.NewReader(c))
	if _, _, err := r.ReadResponse(220); err != nil {
		return err
	}
	_, _ = c.Write([]byte("QUIT\r\n"))
	return nil
}

// startRclone runs `rclone serve ftp` on an S3 remote pointing at st,
// with the same part size and part concurrency as s3ftpd.
func (h *harness) startRclone(ctx context.Context, bin string, st *s3store) (*ftpServer, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	first, last, err := passiveRange(100)
	if err != nil {
		return nil, err
	}
	env := []string{
		"RCLONE_CONFIG=" + filepath.Join(h.work, "rclone.conf"), // empty: the remote comes from env
		"RCLONE_CONFIG_BENCH_TYPE=s3",
		"RCLONE_CONFIG_BENCH_PROVIDER=Other",
		"RCLONE_CONFIG_BENCH_ENDPOINT=" + st.endpoint,
		"RCLONE_CONFIG_BENCH_ACCESS_KEY_ID=" + st.access,
		"RCLONE_CONFIG_BENCH_SECRET_ACCESS_KEY=" + st.secret,
		"RCLONE_CONFIG_BENCH_REGION=us-east-1",
		"RCLONE_CONFIG_BENCH_FORCE_PATH_STYLE=true",
		"RCLONE_CONFIG_BENCH_NO_CHECK_BUCKET=true",
		fmt.Sprintf("RCLONE_CONFIG_BENCH_CHUNK_SIZE=%dMi", partSize>>20),
		fmt.Sprintf("RCLONE_CONFIG_BENCH_UPLOAD_CONCURRENCY=%d", partConcurrency),
	}
	if err := os.WriteFile(filepath.Join(h.work, "rclone.conf"), nil, 0o600); err != nil {
		return nil, err
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	p, err := h.procs.start("rclone", env, bin, "serve", "ftp", "bench:"+st.bucket+"/rclone",
		"--addr", addr,
		"--passive-port", fmt.Sprintf("%d-%d", first, last),
		"--public-ip", "127.0.0.1",
		"--user", "bench", "--pass", h.ftpPass,
		"--log-level", "NOTICE")
	if err != nil {
		return nil, err
	}
	if err := waitFTP(ctx, addr, p, 60*time.Second); err != nil {
		_ = p.stop()
		return nil, err
	}
	return &ftpServer{name: "rclone", addr: addr, user: "bench", pass: h.ftpPass, proc: p, base: "/", keyPrefix: "rclone/"}, nil
}

// vsftpdBinary returns the path of an installed vsftpd, or "".
func vsftpdBinary() string {
	if p, err := exec.LookPath("vsftpd"); err == nil {
		return p
	}
	for _, p := range []string{"/usr/sbin/vsftpd", "/usr/local/sbin/vsftpd"} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return ""
}

// startVsftpd runs vsftpd in the foreground with its own config: anonymous
// uploads into dir (local disk reference, no S3), loopback only.
func (h *harness) startVsftpd(ctx context.Context, bin, dir string) (*ftpServer, error) {
	if os.Geteuid() != 0 {
		return nil, fmt.Errorf("vsftpd needs root to start (it drops privileges itself)")
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	first, last, err := passiveRange(100)
	if err != nil {
		return nil, err
	}
	// vsftpd refuses a writable anonymous root: root owns dir (0755), the
	// anonymous user writes into dir/pub.
	pub := filepath.Join(dir, "pub")
	empty := filepath.Join(dir, "empty")
	for _, d := range []string{pub, empty} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, err
		}
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		return nil, err
	}
	if err := os.Chmod(pub, 0o777); err != nil {
		return nil, err
	}
	conf := strings.Join([]string{
		"listen=YES",
		"listen_ipv6=NO",
		"listen_address=127.0.0.1",
		fmt.Sprintf("listen_port=%d", port),
		"background=NO",
		"anonymous_enable=YES",
		"no_anon_password=YES",
		"local_enable=NO",
		"write_enable=YES",
		"anon_upload_enable=YES",
		"anon_mkdir_write_enable=YES",
		"anon_other_write_enable=YES",
		"anon_umask=022",
		"anon_root=" + dir,
		"ftp_username=ftp",
		"nopriv_user=nobody",
		"secure_chroot_dir=" + empty,
		"pasv_enable=YES",
		"pasv_address=127.0.0.1",
		fmt.Sprintf("pasv_min_port=%d", first),
		fmt.Sprintf("pasv_max_port=%d", last),
		"max_clients=0",
		"max_per_ip=0",
		"seccomp_sandbox=NO",
		"xferlog_enable=NO",
		"syslog_enable=NO",
		"vsftpd_log_file=" + filepath.Join(h.work, "vsftpd-xfer.log"),
		"use_localtime=NO",
		"idle_session_timeout=600",
		"data_connection_timeout=300",
		"",
	}, "\n")
	cfg := filepath.Join(h.work, "vsftpd.conf")
	if err := os.WriteFile(cfg, []byte(conf), 0o600); err != nil {
		return nil, err
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	p, err := h.procs.start("vsftpd", nil, bin, cfg)
	if err != nil {
		return nil, err
	}
	if err := waitFTP(ctx, addr, p, 20*time.Second); err != nil {
		_ = p.stop()
		return nil, err
	}
	// Anonymous users land in anon_root; uploads go to /pub.
	return &ftpServer{name: "vsftpd", addr: addr, user: "anonymous", pass: "bench@", proc: p, base: "/pub/", localDir: dir}, nil
}
