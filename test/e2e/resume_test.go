package e2e

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestResumeUploads: an upload cut off halfway is resumed by the standard
// client options — curl -C - (SIZE + APPE) and lftp put -c (SIZE + REST +
// STOR) — and the object ends byte-exact.
func TestResumeUploads(t *testing.T) {
	curl := requireTool(t, "curl")
	lftp := requireTool(t, "lftp")
	n := startNode(t, nodeOptions{})
	dir := t.TempDir()
	src, data := randomFile(t, dir, "big.bin", 24<<20+77)
	base := "ftp://127.0.0.1:" + itoa(n.Port) + "/"
	auth := []string{"-sS", "--user", "demo:demo"}

	check := func(name string) {
		t.Helper()
		out := filepath.Join(dir, "check.bin")
		mustRun(t, time.Minute, nil, curl, append(auth, "-o", out, base+name)...)
		if got, _ := os.ReadFile(out); !bytes.Equal(got, data) {
			t.Fatalf("%s after resume: %d bytes, want %d, content equal=%v", name, len(got), len(data), bytes.Equal(got, data))
		}
	}
	partial := func(name string) string {
		t.Helper()
		out, _ := run(t, time.Minute, nil, curl, append(auth, "-I", base+name)...)
		return out
	}

	// curl: cut off by --max-time, then -C -.
	if _, err := run(t, time.Minute, nil, curl, append(auth, "--limit-rate", "8M", "--max-time", "1.5", "-T", src, base+"curl.bin")...); err == nil {
		t.Fatal("the first curl upload was not cut off")
	}
	if p := partial("curl.bin"); !strings.Contains(p, "Content-Length") {
		t.Fatalf("no partial after the cut-off upload: %q", p)
	}
	mustRun(t, time.Minute, nil, curl, append(auth, "-C", "-", "-T", src, base+"curl.bin")...)
	check("curl.bin")
	if sent := lastTransfer(t, n, "APPE", "/curl.bin"); sent <= 0 || sent >= int64(len(data)) {
		t.Fatalf("curl -C - sent %d bytes: want only the rest of %d", sent, len(data))
	}

	// lftp: killed mid-upload, then put -c.
	script := "set net:max-retries 1; set net:limit-rate 8000000; open -u demo,demo ftp://127.0.0.1:" + itoa(n.Port) + "; put " + src + " -o lftp.bin"
	if _, err := run(t, 1500*time.Millisecond, nil, lftp, "-c", script); err == nil {
		t.Fatal("the first lftp upload was not cut off")
	}
	mustRun(t, time.Minute, nil, lftp, "-c", "set net:max-retries 1; set cmd:fail-exit yes; open -u demo,demo ftp://127.0.0.1:"+itoa(n.Port)+"; put -c "+src+" -o lftp.bin")
	check("lftp.bin")
	if sent := lastTransfer(t, n, "STOR", "/lftp.bin"); sent <= 0 || sent >= int64(len(data)) {
		t.Fatalf("lftp put -c sent %d bytes: want only the rest of %d", sent, len(data))
	}
}

// lastTransfer is the byte count of the last successful transfer of path
// with verb, from the server's log.
func lastTransfer(t *testing.T, n *node, verb, path string) int64 {
	t.Helper()
	re := regexp.MustCompile(`verb=` + verb + ` direction=upload path=` + regexp.QuoteMeta(path) + ` bytes=(\d+) .*ok=true`)
	m := re.FindAllStringSubmatch(n.out.String(), -1)
	if len(m) == 0 {
		t.Fatalf("no successful %s of %s logged:\n%s", verb, path, n.out.String())
	}
	v, _ := strconv.ParseInt(m[len(m)-1][1], 10, 64)
	return v
}
