package e2e

import (
	"bytes"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	client "github.com/jlaffaye/ftp"
)

const relayedLine = "data connection relayed to the node that owns its PASV"

// TestClusterClients: 60 sessions from 60 client IPs through a round-robin
// LB over three nodes upload, list and download byte-exact with curl, lftp
// and a Go client, over EPSV and PASV, plain and PROT P (with TLS session
// reuse required, the default); most data connections land on a node that
// did not answer their PASV and are relayed.
func TestClusterClients(t *testing.T) {
	curl := requireTool(t, "curl")
	lftp := requireTool(t, "lftp")
	e := startCluster(t, clusterOptions{})
	dir := t.TempDir()

	const sessions = 60
	errs := make(chan error, sessions)
	sem := make(chan struct{}, 6)
	var wg sync.WaitGroup
	for i := range sessions {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			name := fmt.Sprintf("c%02d.bin", i)
			data := make([]byte, 50_000+i*3_001)
			rand.Read(data)
			src := filepath.Join(dir, name)
			os.WriteFile(src, data, 0o600)
			ip := clientIP(i)
			tlsOn, pasv := i%4 >= 2, i%2 == 1
			var err error
			switch i % 3 {
			case 0:
				err = e.goSession(ip, name, data, tlsOn, pasv)
			case 1:
				err = e.curlSession(curl, ip, src, name, data, tlsOn, pasv, dir)
			case 2:
				err = e.lftpSession(lftp, ip, src, name, data, tlsOn, dir)
			}
			if err != nil {
				errs <- fmt.Errorf("session %d (%s, tls %v, pasv %v): %w", i, ip, tlsOn, pasv, err)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	logs := e.logs()
	relayed := strings.Count(logs, relayedLine)
	transfers := strings.Count(logs, "msg=transfer ")
	t.Logf("%d data connections, %d relayed by a node other than the owner", transfers, relayed)
	if transfers < sessions*2 || relayed*2 < transfers {
		t.Errorf("want most of the %d data connections relayed, got %d", transfers, relayed)
	}
	for _, n := range e.nodes {
		if !strings.Contains(n.out.String(), relayedLine) {
			t.Errorf("%s relayed nothing: the LB did not spread data connections", n.id)
		}
	}
	// An operator's view: every node live.
	out := mustRun(t, 30*time.Second, nil, binary, "cluster", "status", "--config", e.nodes[0].cfg)
	for _, n := range e.nodes {
		if !strings.Contains(out, n.id+"  live") {
			t.Errorf("cluster status does not list %s as live:\n%s", n.id, out)
		}
	}
	t.Logf("s3ftpd cluster status:\n%s", out)
}

func (e *clusterEnv) tlsConfig() *tls.Config {
	pem, _ := os.ReadFile(e.certFile)
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(pem)
	return &tls.Config{RootCAs: roots, ServerName: clusterLBIP, ClientSessionCache: tls.NewLRUClientSessionCache(4)}
}

// goSession: STOR, LIST, RETR with github.com/jlaffaye/ftp.
func (e *clusterEnv) goSession(ip, name string, data []byte, tlsOn, pasv bool) error {
	d := net.Dialer{Timeout: 10 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
	opts := []client.DialOption{client.DialWithDialer(d), client.DialWithTimeout(30 * time.Second), client.DialWithDisabledEPSV(pasv)}
	if tlsOn {
		opts = append(opts, client.DialWithExplicitTLS(e.tlsConfig()))
	}
	c, err := client.Dial(e.Ctrl, opts...)
	if err != nil {
		return err
	}
	defer c.Quit()
	if err := c.Login("demo", "demo"); err != nil {
		return err
	}
	if err := c.Stor(name, bytes.NewReader(data)); err != nil {
		return fmt.Errorf("STOR: %w", err)
	}
	entries, err := c.List("/")
	if err != nil {
		return fmt.Errorf("LIST: %w", err)
	}
	found := false
	for _, en := range entries {
		found = found || (en.Name == name && en.Size == uint64(len(data)))
	}
	if !found {
		return fmt.Errorf("LIST does not show %s with %d bytes", name, len(data))
	}
	r, err := c.Retr(name)
	if err != nil {
		return fmt.Errorf("RETR: %w", err)
	}
	got, err := io.ReadAll(r)
	r.Close()
	if err != nil || !bytes.Equal(got, data) {
		return fmt.Errorf("RETR: %d bytes, err %v: content differs", len(got), err)
	}
	return nil
}

func (e *clusterEnv) curlSession(curl, ip, src, name string, data []byte, tlsOn, pasv bool, dir string) error {
	args := []string{"-sS", "--user", "demo:demo", "--max-time", "60", "--interface", ip}
	if tlsOn {
		args = append(args, "--ssl-reqd", "--cacert", e.certFile)
	}
	if pasv {
		args = append(args, "--disable-epsv")
	}
	base := "ftp://" + e.Ctrl + "/"
	if out, err := run(e.t, time.Minute, nil, curl, append(args, "-T", src, base+name)...); err != nil {
		return fmt.Errorf("curl upload: %v\n%s", err, out)
	}
	if out, err := run(e.t, time.Minute, nil, curl, append(args, "-l", base)...); err != nil || !strings.Contains(out, name) {
		return fmt.Errorf("curl list: %v\n%s", err, out)
	}
	back := filepath.Join(dir, name+".curl")
	if out, err := run(e.t, time.Minute, nil, curl, append(args, "-o", back, base+name)...); err != nil {
		return fmt.Errorf("curl download: %v\n%s", err, out)
	}
	if got, _ := os.ReadFile(back); !bytes.Equal(got, data) {
		return fmt.Errorf("curl download differs (%d bytes)", len(got))
	}
	return nil
}

// lftpSession uses PASV (lftp's EPSV is off here, as many sites set it).
func (e *clusterEnv) lftpSession(lftp, ip, src, name string, data []byte, tlsOn bool, dir string) error {
	back := filepath.Join(dir, name+".lftp")
	cmds := []string{"set net:max-retries 1", "set net:timeout 20", "set cmd:fail-exit yes",
		"set ftp:prefer-epsv no", "set net:socket-bind-ipv4 " + ip}
	if tlsOn {
		cmds = append(cmds, "set ftp:ssl-force true", "set ftp:ssl-protect-data true", "set ssl:ca-file "+e.certFile)
	} else {
		cmds = append(cmds, "set ftp:ssl-allow no")
	}
	cmds = append(cmds, "open -u demo,demo ftp://"+e.Ctrl, "put "+src+" -o "+name, "cls -l "+name, "get "+name+" -o "+back)
	out, err := run(e.t, time.Minute, nil, lftp, "-c", strings.Join(cmds, "; "))
	if err != nil {
		return fmt.Errorf("lftp: %v\n%s", err, out)
	}
	if got, _ := os.ReadFile(back); !bytes.Equal(got, data) {
		return fmt.Errorf("lftp download differs (%d bytes)\n%s", len(got), out)
	}
	return nil
}

// TestClusterRedisOutage: with redis-server stopped, sessions go on; a
// data connection that lands on its own node works, one that lands on
// another node fails (425) with a log line naming the registry; nothing
// acknowledged is lost; after redis-server starts again every transfer
// works by itself.
func TestClusterRedisOutage(t *testing.T) {
	curl := requireTool(t, "curl")
	e := startCluster(t, clusterOptions{dataAccept: 3 * time.Second})
	const n = 9
	// An upload running when Redis goes away is not disturbed.
	dir := t.TempDir()
	src, big := randomFile(t, dir, "during.bin", 6<<20)
	running := e.slowUpload(curl, clientIP(99), src, "during.bin", "2M")
	time.Sleep(time.Second)
	e.stopRedis()
	if err := <-running; err != nil {
		t.Errorf("upload running while Redis stopped: %v", err)
	}
	// Readiness stays (every node shares the one Redis); the body says why.
	time.Sleep(3 * time.Second)
	if code, body := e.nodes[0].readyz(t); code != 200 || !strings.Contains(body, "degraded") {
		t.Errorf("/readyz with Redis down: %d %q, want 200 and the degradation named", code, body)
	}
	stored := map[string][]byte{}
	var refused int
	for i := range n {
		name := fmt.Sprintf("down%d.bin", i)
		data := make([]byte, 20_000+i)
		rand.Read(data)
		err := e.goSession(clientIP(100+i), name, data, false, i%2 == 0)
		switch {
		case err == nil:
			stored[name] = data
		case strings.Contains(err.Error(), "425"):
			refused++
		default:
			t.Errorf("session %d with Redis down: %v (want success or 425)", i, err)
		}
	}
	t.Logf("Redis down: %d of %d sessions completed, %d got 425", len(stored), n, refused)
	if !strings.Contains(e.logs(), "cluster registry (Redis) unreachable") {
		t.Error("no log line says the registry is unreachable")
	}
	if refused > 0 && !strings.Contains(e.logs(), "the cluster registry is unreachable, cannot find its owner") {
		t.Error("a relayed data connection failed without saying why")
	}

	e.restartRedis()
	time.Sleep(3 * time.Second) // every node reconnects and announces again
	if code, body := e.nodes[0].readyz(t); code != 200 || body != "ready\n" {
		t.Errorf("/readyz after Redis returned: %d %q", code, body)
	}
	for i := range n {
		name := fmt.Sprintf("up%d.bin", i)
		data := make([]byte, 20_000+i)
		rand.Read(data)
		if err := e.goSession(clientIP(120+i), name, data, i%3 == 0, i%2 == 0); err != nil {
			t.Errorf("session %d after Redis returned: %v", i, err)
		}
	}
	// What was acknowledged while Redis was down is there, byte-exact.
	stored["during.bin"] = big
	for name, data := range stored {
		if got := e.download(clientIP(140), name); !bytes.Equal(got, data) {
			t.Errorf("%s stored while Redis was down: %d bytes back, want %d", name, len(got), len(data))
		}
	}
	if !strings.Contains(e.logs(), "cluster registry (Redis) reachable again") {
		t.Error("no log line says the registry is back")
	}
}

// slowUpload runs curl -T through the LB at rate (curl's --limit-rate) in
// the background; its result arrives on the channel.
func (e *clusterEnv) slowUpload(curl, ip, src, name, rate string) <-chan error {
	done := make(chan error, 1)
	go func() {
		out, err := run(e.t, 2*time.Minute, nil, curl, "-sS", "--user", "demo:demo", "--interface", ip,
			"--limit-rate", rate, "-T", src, "ftp://"+e.Ctrl+"/"+name)
		if err != nil {
			err = fmt.Errorf("%v: %s", err, out)
		}
		done <- err
	}()
	return done
}

func (e *clusterEnv) download(ip, name string) []byte {
	e.t.Helper()
	b, err := e.tryDownload(ip, name)
	if err != nil {
		e.t.Errorf("RETR %s: %v", name, err)
	}
	return b
}

// tryDownload is download that lets the caller judge a failed RETR.
func (e *clusterEnv) tryDownload(ip, name string) ([]byte, error) {
	e.t.Helper()
	d := net.Dialer{Timeout: 10 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
	c, err := client.Dial(e.Ctrl, client.DialWithDialer(d), client.DialWithTimeout(30*time.Second))
	if err != nil {
		e.t.Fatal(err)
	}
	defer c.Quit()
	if err := c.Login("demo", "demo"); err != nil {
		e.t.Fatal(err)
	}
	r, err := c.Retr(name)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	b, _ := io.ReadAll(r)
	return b, nil
}

// TestClusterLoginFailuresAcrossNodes: login_failures_per_ip counts over
// the whole cluster: the 6th failure from one IP is refused whichever node
// the LB picks, while another IP still logs in.
func TestClusterLoginFailuresAcrossNodes(t *testing.T) {
	e := startCluster(t, clusterOptions{extra: "limits:\n  login_failures_per_ip: 5\n"})
	attempt := func(ip, pw string) error {
		d := net.Dialer{Timeout: 10 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
		c, err := client.Dial(e.Ctrl, client.DialWithDialer(d), client.DialWithTimeout(20*time.Second))
		if err != nil {
			return err
		}
		defer c.Quit()
		return c.Login("demo", pw)
	}
	attacker := clientIP(200)
	for i := 1; i <= 5; i++ {
		if err := attempt(attacker, "wrong"); err == nil || !strings.Contains(err.Error(), "530") {
			t.Fatalf("failure %d: %v, want 530", i, err)
		}
	}
	for i := 6; i <= 8; i++ {
		if err := attempt(attacker, "demo"); err == nil || !strings.Contains(err.Error(), "421") {
			t.Fatalf("attempt %d after 5 failures: %v, want 421 (even with the right password)", i, err)
		}
	}
	spread := 0
	for _, n := range e.nodes {
		if strings.Contains(n.out.String(), "login failed") {
			spread++
		}
	}
	if spread < 2 {
		t.Errorf("failures landed on %d node(s): the LB did not spread them, the test proves nothing", spread)
	}
	if err := attempt(clientIP(201), "demo"); err != nil {
		t.Errorf("another IP cannot log in: %v", err)
	}
}

// TestClusterNodeLoss: kill -9 of one node in the middle of 20 uploads
// loses only the transfers that ran through it; within seconds the other
// nodes make its interrupted uploads resumable, and each client resumes
// through the LB (curl -C -: SIZE + APPE), sends only the rest and ends
// byte-exact.
func TestClusterNodeLoss(t *testing.T) {
	curl := requireTool(t, "curl")
	e := startCluster(t, clusterOptions{})
	dir := t.TempDir()
	const uploads = 20
	type result struct {
		name, src string
		data      []byte
		err       error
	}
	results := make([]result, uploads)
	var wg sync.WaitGroup
	for i := range uploads {
		name := fmt.Sprintf("big%02d.bin", i)
		src, data := randomFile(t, dir, name, 10<<20+i*1000)
		results[i] = result{name: name, src: src, data: data}
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i].err = <-e.slowUpload(curl, clientIP(30+i), src, name, "2M")
		}()
	}
	time.Sleep(3500 * time.Millisecond)
	victim := e.nodes[1]
	if err := victim.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	failed := 0
	for _, r := range results {
		if r.err != nil {
			failed++
		}
	}
	t.Logf("kill -9 of %s: %d of %d uploads failed", victim.id, failed, uploads)
	if failed == 0 || failed == uploads {
		t.Fatalf("%d of %d uploads failed: want only the killed node's", failed, uploads)
	}
	// The survivors notice the lost node and make its uploads resumable.
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(e.logs(), "upload of a lost node made resumable") {
		if time.Now().After(deadline) {
			t.Fatalf("no node adopted the lost node's uploads:\n%s", e.logs())
		}
		time.Sleep(200 * time.Millisecond)
	}
	time.Sleep(time.Second) // the rest of its uploads
	resumedLess := 0
	for i, r := range results {
		if r.err == nil {
			continue
		}
		out, err := run(t, 2*time.Minute, nil, curl, "-sS", "--user", "demo:demo", "--interface", clientIP(60+i),
			"-C", "-", "-T", r.src, "-w", "sent=%{size_upload}\n", "ftp://"+e.Ctrl+"/"+r.name)
		if err != nil {
			t.Errorf("resume of %s: %v\n%s", r.name, err, out)
			continue
		}
		var sent int
		fmt.Sscanf(out[strings.LastIndex(out, "sent=")+5:], "%d", &sent)
		if sent < len(r.data) {
			resumedLess++
		}
		t.Logf("%s: resumed, sent %d of %d bytes", r.name, sent, len(r.data))
		if sent != 0 {
			continue
		}
		if got, err := e.tryDownload(clientIP(90), r.name); err == nil && bytes.Equal(got, r.data) {
			// Killed while completing the upload: the node that
			// adopted it completed it (README, Node loss).
			t.Logf("%s: completed by the node that adopted it", r.name)
			continue
		}
		// Killed after the client's last byte but before the node saw
		// its end of file: the partial holds the whole file, SIZE says
		// so and curl sends nothing (README, The trap). A plain upload
		// stores it.
		t.Logf("%s: the partial held the whole file; uploading it again", r.name)
		mustRun(t, 2*time.Minute, nil, curl, "-sS", "--user", "demo:demo", "--interface", clientIP(60+i),
			"-T", r.src, "ftp://"+e.Ctrl+"/"+r.name)
	}
	if resumedLess == 0 {
		t.Error("no resume sent less than the whole file: nothing was resumable")
	}
	for _, r := range results {
		got := e.download(clientIP(90), r.name)
		if !bytes.Equal(got, r.data) {
			// An upload relayed through the killed node must not be
			// acknowledged short (the owner commits only a client's end
			// of file the relay confirmed).
			t.Errorf("%s: %d bytes back, want %d byte-exact (upload err %v)", r.name, len(got), len(r.data), r.err)
		}
	}
}

// TestClusterJanitorLeavesLiveUploads: a node that starts (and sweeps at
// start) while another node's upload runs leaves that upload alone: no
// marker is written for it and it completes byte-exact.
func TestClusterJanitorLeavesLiveUploads(t *testing.T) {
	curl := requireTool(t, "curl")
	e := startCluster(t, clusterOptions{nodes: 2})
	dir := t.TempDir()
	src, data := randomFile(t, dir, "live.bin", 14<<20)
	done := e.slowUpload(curl, clientIP(7), src, "live.bin", "3M")
	time.Sleep(2500 * time.Millisecond) // a part is stored: the multipart upload exists
	// A third node joins (not behind the LB) with debug logs; its janitor
	// sweeps at start.
	n3 := &clusterNodeProc{id: "node3", ip: "127.0.1.3", relay: freePort(t), ops: freePort(t)}
	cfg, _ := os.ReadFile(e.nodes[0].cfg)
	c := strings.NewReplacer(e.nodes[0].ip, n3.ip, "node_id: node1", "node_id: node3",
		fmt.Sprint(e.nodes[0].relay), fmt.Sprint(n3.relay), fmt.Sprint(e.nodes[0].ops), fmt.Sprint(n3.ops)).Replace(string(cfg))
	n3.cfg = filepath.Join(t.TempDir(), "node3.yaml")
	os.WriteFile(n3.cfg, []byte(c+"log:\n  level: debug\n"), 0o600)
	e.startNode(n3)
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(n3.out.String(), "janitor: sweep done") {
		if time.Now().After(deadline) {
			t.Fatalf("node3 did not sweep:\n%s", n3.out.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err := <-done; err != nil {
		t.Fatalf("upload: %v", err)
	}
	if strings.Contains(n3.out.String(), "interrupted upload made resumable") {
		t.Errorf("node3's janitor adopted another live node's upload:\n%s", n3.out.String())
	}
	if got := e.download(clientIP(8), "live.bin"); !bytes.Equal(got, data) {
		t.Errorf("live.bin: %d bytes back, want %d", len(got), len(data))
	}
}

// viaLB dials addr from the LB's address with a PROXY v1 header naming
// client:port, as HAProxy would: the test picks which node gets what.
func viaLB(t *testing.T, addr, client string, port int) net.Conn {
	t.Helper()
	d := net.Dialer{Timeout: 10 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(clusterLBIP)}}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	_, dport, _ := net.SplitHostPort(addr)
	fmt.Fprintf(c, "PROXY TCP4 %s %s %d %s\r\n", client, clusterLBIP, port, dport)
	return c
}

// TestClusterRelayedAbortAndStall: with the control connection on node1
// and the data connection relayed by node2, ABOR ends the transfer (426
// then 226) and the stall timer ends one whose client stopped reading.
func TestClusterRelayedAbortAndStall(t *testing.T) {
	e := startCluster(t, clusterOptions{nodes: 2, stall: 2 * time.Second})
	const client = "127.0.2.77"
	// Larger than every kernel buffer on the way (owner and relay socket
	// buffers, the relay's splice pipe, the client's window): with 32 MiB
	// the owner could write it all and answer 226 before the ABOR.
	data := make([]byte, 128<<20)
	rand.Read(data)
	c := goClientVia(t, e, client)
	if err := c.Stor("big.bin", bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	c.Quit()

	ctrl := &rawConn{t: t, c: viaLB(t, fmt.Sprintf("127.0.1.1:%d", e.ctrlPort), client, 40000)}
	ctrl.expect("220")
	ctrl.cmd("USER demo", "331")
	ctrl.cmd("PASS demo", "230")
	ctrl.cmd("TYPE I", "200")
	for i, end := range []string{"ABOR", "stall"} {
		line := ctrl.cmd("EPSV", "229")
		var port int
		fmt.Sscanf(line[strings.Index(line, "|||")+3:], "%d", &port)
		dc := viaLB(t, fmt.Sprintf("127.0.1.2:%d", port), client, 40001+i) // node2: not the owner
		ctrl.cmd("RETR big.bin", "150")
		// Read a little, then stop reading: the owner blocks on a full window.
		io.ReadFull(dc, make([]byte, 1<<20))
		start := time.Now()
		if end == "ABOR" {
			ctrl.send("ABOR")
			ctrl.expect("426")
			ctrl.expect("226")
		} else {
			ctrl.expect("426")
		}
		t.Logf("%s ended the relayed RETR after %v", end, time.Since(start).Round(time.Millisecond))
		dc.Close()
	}
	ctrl.cmd("NOOP", "200") // the session goes on
	if !strings.Contains(e.nodes[1].out.String(), relayedLine) {
		t.Fatalf("node2 did not relay:\n%s", e.nodes[1].out.String())
	}
}

// goClientVia logs in through the LB from ip.
func goClientVia(t *testing.T, e *clusterEnv, ip string) *client.ServerConn {
	t.Helper()
	d := net.Dialer{Timeout: 10 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
	c, err := client.Dial(e.Ctrl, client.DialWithDialer(d), client.DialWithTimeout(30*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Login("demo", "demo"); err != nil {
		t.Fatal(err)
	}
	return c
}
