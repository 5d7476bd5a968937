package e2e

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	client "github.com/jlaffaye/ftp"
)

// lb is a real HAProxy in front of one s3ftpd node, sending PROXY v2 on
// the control port and on every passive port. Clients reach it at
// 127.0.0.2; the node listens on 127.0.0.1 and trusts only HAProxy's
// source address (127.0.0.1) for headers, and requires them.
type lb struct {
	*proc // haproxy
	node  *node
	Ctrl  string // 127.0.0.2:port
}

const lbIP = "127.0.0.2"

func startBehindHAProxy(t *testing.T, dataDir, extra string) *lb {
	t.Helper()
	haproxy := requireTool(t, "haproxy")
	opsPort := freePort(t)
	n := startNode(t, nodeOptions{
		dataDir: dataDir,
		passive: "  address: control",
		extra: fmt.Sprintf(`proxy_protocol:
  trusted: ["127.0.0.1/32"]
  required: true
ops:
  listen: "[::]:%d"
%s`, opsPort, extra),
	})
	n.opsPort = opsPort
	ctrl := net.JoinHostPort(lbIP, strconv.Itoa(freePort(t)))
	cfg := fmt.Sprintf(`global
  maxconn 4000
defaults
  mode tcp
  timeout connect 5s
  timeout client 5m
  timeout server 5m
frontend ftp_control
  bind %s
  default_backend ftp_control
backend ftp_control
  server node1 %s send-proxy-v2 check check-send-proxy inter 1s
frontend ftp_passive
  bind %s:%d-%d
  default_backend ftp_passive
backend ftp_passive
  # no port: the connection keeps the port number the client dialled
  server node1 127.0.0.1 send-proxy-v2
`, ctrl, n.Addr, lbIP, n.PassiveFirst, n.PassiveLast)
	path := filepath.Join(t.TempDir(), "haproxy.cfg")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	l := &lb{node: n, Ctrl: ctrl, proc: startProc(t, haproxy, "-db", "-f", path)}
	l.waitListening(ctrl, 20*time.Second)
	return l
}

// goClient logs in through the LB from a given client source address.
func goClient(t *testing.T, addr, from string) *client.ServerConn {
	t.Helper()
	d := net.Dialer{Timeout: 10 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}}
	c, err := client.Dial(addr, client.DialWithDialer(d), client.DialWithTimeout(30*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Login("demo", "demo"); err != nil {
		t.Fatal(err)
	}
	return c
}

func TestHAProxyClients(t *testing.T) {
	curl := requireTool(t, "curl")
	lftp := requireTool(t, "lftp")
	l := startBehindHAProxy(t, "", "")
	dir := t.TempDir()
	src, data := randomFile(t, dir, "lb.bin", 6<<20+5)
	base := "ftp://" + l.Ctrl + "/"
	auth := []string{"-sS", "--user", "demo:demo", "--max-time", "60", "--interface", "127.0.0.5"}

	// curl with EPSV and with PASV (--disable-epsv: the advertised address
	// must be the LB's, taken from the PROXY header's destination).
	for _, mode := range [][]string{nil, {"--disable-epsv"}} {
		mustRun(t, time.Minute, nil, curl, append(append(auth, mode...), "-T", src, base+"lb.bin")...)
		out := filepath.Join(dir, "back.bin")
		mustRun(t, time.Minute, nil, curl, append(append(auth, mode...), "-o", out, base+"lb.bin")...)
		if got, _ := os.ReadFile(out); !bytes.Equal(got, data) {
			t.Fatalf("curl %v through HAProxy: content differs", mode)
		}
	}
	// Active mode (curl -P): the client address comes from HAProxy's PROXY
	// header, a real client, so the data connection goes to it.
	out := filepath.Join(dir, "active.bin")
	mustRun(t, time.Minute, nil, curl, append(auth, "-P", "127.0.0.5", "-o", out, base+"lb.bin")...)
	if got, _ := os.ReadFile(out); !bytes.Equal(got, data) {
		t.Fatal("curl active mode through HAProxy: content differs")
	}
	// lftp (PASV by default when EPSV is off).
	out = mustRun(t, time.Minute, nil, lftp, "-c", strings.Join([]string{
		"set net:max-retries 1", "set net:timeout 20", "set cmd:fail-exit yes", "set ftp:prefer-epsv no",
		"set net:socket-bind-ipv4 127.0.0.6",
		"open -u demo,demo ftp://" + l.Ctrl, "get lb.bin -o " + filepath.Join(dir, "lftp.bin"), "cls -l"}, "; "))
	if got, _ := os.ReadFile(filepath.Join(dir, "lftp.bin")); !bytes.Equal(got, data) {
		t.Fatalf("lftp through HAProxy: content differs\n%s", out)
	}
	// Go client; the server logs the real client address, not HAProxy's.
	c := goClient(t, l.Ctrl, "127.0.0.7")
	defer c.Quit()
	if err := c.Stor("go.txt", strings.NewReader("via haproxy")); err != nil {
		t.Fatal(err)
	}
	if !l.node.logged("client=127.0.0.7") {
		t.Fatalf("server log does not show the real client 127.0.0.7:\n%s", l.node.out.String())
	}
	// Health endpoints, on IPv4 and IPv6.
	for _, host := range []string{"127.0.0.1", "[::1]"} {
		for path, want := range map[string]int{"/healthz": 200, "/readyz": 200} {
			resp, err := http.Get(fmt.Sprintf("http://%s:%d%s", host, l.node.opsPort, path))
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != want {
				t.Fatalf("%s%s = %d", host, path, resp.StatusCode)
			}
		}
	}
}

func TestHAProxyRefusesForeignDataConnection(t *testing.T) {
	l := startBehindHAProxy(t, "", "")
	d := net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.8")}}
	c, err := d.Dial("tcp", l.Ctrl)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	r := &rawConn{t: t, c: c, buf: make([]byte, 0, 4096)}
	r.expect("220")
	r.cmd("USER demo", "331")
	r.cmd("PASS demo", "230")
	msg := r.cmd("EPSV", "229")
	port := msg[strings.Index(msg, "(|||")+4 : strings.LastIndex(msg, "|)")]

	// Another host connects to the passive port first, through the LB
	// (its PROXY header names 127.0.0.9) and around it (no header).
	for _, path := range []struct{ from, to string }{{"127.0.0.9", lbIP}, {"127.0.0.9", "127.0.0.1"}} {
		td := net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(path.from)}}
		thief, err := td.Dial("tcp", net.JoinHostPort(path.to, port))
		if err != nil {
			continue // refused outright is fine too
		}
		thief.SetReadDeadline(time.Now().Add(10 * time.Second))
		if n, err := thief.Read(make([]byte, 1)); err == nil {
			t.Fatalf("data connection from %s via %s was accepted (%d bytes)", path.from, path.to, n)
		}
		thief.Close()
	}
	// The real client still gets its transfer.
	r.send("STOR mine")
	dc, err := d.Dial("tcp", net.JoinHostPort(lbIP, port))
	if err != nil {
		t.Fatal(err)
	}
	r.expect("150")
	dc.Write([]byte("mine"))
	dc.Close()
	r.expect("226")
	r.cmd("SIZE mine", "213 4")
	if !l.node.logged("refused data connection") {
		t.Fatalf("no log line for the refused data connection:\n%s", l.node.out.String())
	}
}

// TestHAProxyDrainLosesNothing: SIGTERM while 20 uploads run through the
// LB. Every upload completes with 226, /readyz fails at once, and after a
// restart every file is there, byte for byte.
func TestHAProxyDrainLosesNothing(t *testing.T) {
	dataDir := t.TempDir()
	l := startBehindHAProxy(t, dataDir, "")
	const uploads = 20
	const size = 3 << 20
	sums := make([][32]byte, uploads)
	errs := make(chan error, uploads)
	started := make(chan struct{}, uploads)
	var wg sync.WaitGroup
	for i := range uploads {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := goClient(t, l.Ctrl, fmt.Sprintf("127.0.1.%d", i+1))
			defer c.Quit()
			b := make([]byte, size)
			rand.NewChaCha8([32]byte{byte(i)}).Read(b)
			sums[i] = sha256.Sum256(b)
			// Slow enough that the drain starts in the middle.
			err := c.Stor(fmt.Sprintf("drain-%d.bin", i), &slowReader{r: bytes.NewReader(b), started: started})
			if err != nil {
				errs <- fmt.Errorf("upload %d: %w", i, err)
			}
		}()
	}
	for range uploads {
		<-started
	}
	if err := syscall.Kill(l.node.cmd.Process.Pid, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/readyz", l.node.opsPort))
	if err == nil {
		resp.Body.Close()
		if resp.StatusCode != http.StatusServiceUnavailable {
			t.Errorf("/readyz during drain = %d, want 503", resp.StatusCode)
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	select {
	case <-l.node.exited:
		if l.node.waitErr != nil {
			t.Fatalf("s3ftpd exited with %v after the drain", l.node.waitErr)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("s3ftpd did not exit after the drain")
	}
	n2 := startNode(t, nodeOptions{dataDir: dataDir})
	c := goClient(t, n2.Addr, "127.0.0.1")
	defer c.Quit()
	for i := range uploads {
		r, err := c.Retr(fmt.Sprintf("drain-%d.bin", i))
		if err != nil {
			t.Fatalf("drain-%d.bin after the drain: %v", i, err)
		}
		h := sha256.New()
		io.Copy(h, r)
		r.Close()
		if [32]byte(h.Sum(nil)) != sums[i] {
			t.Fatalf("drain-%d.bin differs after the drain", i)
		}
	}
}

// slowReader paces an upload: 64 KiB every 20 ms (about 3 MiB/s).
type slowReader struct {
	r       io.Reader
	started chan struct{}
	once    sync.Once
}

func (s *slowReader) Read(p []byte) (int, error) {
	s.once.Do(func() { s.started <- struct{}{} })
	time.Sleep(20 * time.Millisecond)
	return s.r.Read(p[:min(len(p), 64<<10)])
}
