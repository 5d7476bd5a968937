package e2e

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/s3ftpd/s3ftpd/internal/ftp/ftptest"
	"github.com/s3ftpd/s3ftpd/internal/s3fs/s3faults"
)

// TestKillNineWhileCompleting: the server is killed (kill -9) after the
// client's end of file and every part of a curl upload were stored, while
// the store holds its CompleteMultipartUpload unanswered (s3faults in front
// of a versitygw process). After the restart the janitor completes the
// upload: curl downloads the complete new file. Before the committing
// record (internal/s3fs/committing.go) the restart made it a partial that
// held the whole file, the name had no file (550) and curl -C - would have
// sent nothing (README "The trap").
func TestKillNineWhileCompleting(t *testing.T) {
	curl := requireTool(t, "curl")
	endpoint := startGateway(t, "commitkey", "commitsecret123")
	createBucket(t, endpoint, "commitkey", "commitsecret123", "commit")
	proxy, err := s3faults.Start(endpoint)
	if err != nil {
		t.Fatal(err)
	}
	defer proxy.Close()

	port := freePort(t)
	first := ftptest.FreePortRange(t, 4)
	for i := 0; i < 20 && port >= first && port < first+4; i++ {
		first = ftptest.FreePortRange(t, 4)
	}
	cfg := fmt.Sprintf(`listen: "127.0.0.1:%d"
passive:
  ports: "%d-%d"
store:
  s3:
    bucket: commit
    endpoint: %q
    region: us-east-1
    path_style: true
    access_key: commitkey
    secret_key: commitsecret123
    part_size: 5MiB
users:
  - name: demo
    password: demo
timeouts:
  login_fail_delay: 10ms
log:
  level: debug
`, port, first, first+3, proxy.URL)
	cfgPath := filepath.Join(t.TempDir(), "s3ftpd.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	n := startProc(t, binary, "--config", cfgPath)
	n.waitListening(addr, 60*time.Second)
	// Its probe of conditional requests completes an upload of its own:
	// wait for its result (versitygw: one of the two INFO lines).
	for deadline := time.Now().Add(30 * time.Second); !strings.Contains(n.out.String(), "store honours conditional writes") &&
		!strings.Contains(n.out.String(), "store ignores per-object ETags"); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no result of the conditional probe:\n%s", n.out.String())
		}
	}

	dir := t.TempDir()
	src, data := randomFile(t, dir, "up.bin", 3*(5<<20)+12345) // four parts
	base := "ftp://" + addr + "/"
	auth := []string{"-sS", "--user", "demo:demo", "--max-time", "60"}
	proxy.Set(s3faults.Rule{Op: "CompleteMultipartUpload", Kind: s3faults.StallHeaders})
	up := make(chan error, 1)
	go func() {
		_, err := run(t, 90*time.Second, nil, curl, append(auth, "-T", src, base+"up.bin")...)
		up <- err
	}()
	for deadline := time.Now().Add(60 * time.Second); proxy.Injected("CompleteMultipartUpload", s3faults.StallHeaders) == 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no CompleteMultipartUpload reached the store within a minute:\n%s", n.out.String())
		}
	}
	n.stop(syscall.SIGKILL, 10*time.Second)
	if err := <-up; err == nil {
		t.Fatal("curl's upload succeeded although the server was killed before completing it")
	}
	proxy.Set()

	n = startProc(t, binary, "--config", cfgPath)
	n.waitListening(addr, 60*time.Second)
	if !n.logged("janitor: sweep done") {
		t.Fatalf("no janitor sweep after the restart:\n%s", n.out.String())
	}
	if !strings.Contains(n.out.String(), "janitor: upload a killed process was committing completed") {
		t.Errorf("the janitor did not complete the upload:\n%s", n.out.String())
	}
	out := filepath.Join(dir, "down.bin")
	if msg, err := run(t, time.Minute, nil, curl, append(auth, "-o", out, base+"up.bin")...); err != nil {
		t.Fatalf("curl download after the restart: %v\n%s", err, msg)
	}
	if got, _ := os.ReadFile(out); !bytes.Equal(got, data) {
		t.Fatalf("downloaded %d bytes, want the %d uploaded", len(got), len(data))
	}
}

// TestClusterNodeLossWhileCompleting: the node that runs a curl upload is
// killed (kill -9) while the store holds its CompleteMultipartUpload; the
// node that adopts the lost node's uploads completes this one, and curl
// downloads the complete file through the LB.
func TestClusterNodeLossWhileCompleting(t *testing.T) {
	curl := requireTool(t, "curl")
	e := startCluster(t, clusterOptions{faults: true, extra: "log:\n  level: debug\n"})
	// Each node's probe of conditional requests completes an upload of
	// its own: wait for their results (versitygw: one of two INFO lines).
	for _, n := range e.nodes {
		for deadline := time.Now().Add(30 * time.Second); !strings.Contains(n.out.String(), "store honours conditional writes") &&
			!strings.Contains(n.out.String(), "store ignores per-object ETags"); time.Sleep(20 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("%s: no result of the conditional probe:\n%s", n.id, n.out.String())
			}
		}
	}
	src, data := randomFile(t, t.TempDir(), "done.bin", 3*(5<<20)+4321) // four parts
	e.faults.Set(s3faults.Rule{Op: "CompleteMultipartUpload", Kind: s3faults.StallHeaders})
	up := make(chan error, 1)
	go func() {
		_, err := run(t, 90*time.Second, nil, curl, "-sS", "--user", "demo:demo", "--interface", clientIP(40),
			"-T", src, "ftp://"+e.Ctrl+"/done.bin")
		up <- err
	}()
	for deadline := time.Now().Add(60 * time.Second); e.faults.Injected("CompleteMultipartUpload", s3faults.StallHeaders) == 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no CompleteMultipartUpload reached the store within a minute:\n%s", e.logs())
		}
	}
	var victim *clusterNodeProc
	for _, n := range e.nodes {
		if strings.Contains(n.out.String(), "verb=STOR arg=done.bin") {
			victim = n
		}
	}
	if victim == nil {
		t.Fatalf("no node logged the STOR:\n%s", e.logs())
	}
	if err := victim.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	if err := <-up; err == nil {
		t.Fatal("curl's upload succeeded although its node was killed before completing it")
	}
	e.faults.Set()
	// A survivor's AdoptUploads (Store.Adopt) completes it, then logs
	// the adoption.
	for deadline := time.Now().Add(30 * time.Second); !strings.Contains(e.logs(), "janitor: upload a killed process was committing completed") ||
		!strings.Contains(e.logs(), "upload of a lost node made resumable"); time.Sleep(200 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no node completed the lost node's upload when adopting it:\n%s", e.logs())
		}
	}
	if got := e.download(clientIP(90), "done.bin"); !bytes.Equal(got, data) {
		t.Fatalf("downloaded %d bytes through the LB, want the %d uploaded", len(got), len(data))
	}
}
