package e2e

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	client "github.com/jlaffaye/ftp"

	"github.com/s3ftpd/s3ftpd/internal/ftp/ftptest"
)

// TestStoreCheckAtStart: against a versitygw process, a wrong bucket and a
// wrong secret each give an ERROR line naming the problem, the process
// stays up unready (/readyz 503), and once the bucket exists the check
// passes, /readyz says ready and uploads work — without a restart.
func TestStoreCheckAtStart(t *testing.T) {
	endpoint := startGateway(t, "checkkey", "checksecret123")

	for _, c := range []struct {
		name, bucket, secret, want string
	}{
		{"wrong secret", "checked", "checksecret123-wrong", `problem="bad signature"`},
		{"wrong bucket", "checked", "checksecret123", `problem="no such bucket"`},
	} {
		t.Run(c.name, func(t *testing.T) {
			port, ops := freePort(t), freePort(t)
			first := ftptest.FreePortRange(t, 4)
			in := func(p int) bool { return p >= first && p < first+4 }
			for i := 0; i < 20 && (in(port) || in(ops)); i++ {
				first = ftptest.FreePortRange(t, 4)
			}
			cfg := fmt.Sprintf(`listen: "127.0.0.1:%d"
passive:
  ports: "%d-%d"
store:
  s3:
    bucket: %s
    endpoint: %q
    region: us-east-1
    path_style: true
    access_key: checkkey
users:
  - name: demo
    password: demo
    home: /
ops:
  listen: "127.0.0.1:%d"
timeouts:
  login_fail_delay: 10ms
`, port, first, first+3, c.bucket, endpoint, ops)
			p := filepath.Join(t.TempDir(), "s3ftpd.yaml")
			if err := os.WriteFile(p, []byte(cfg), 0o600); err != nil {
				t.Fatal(err)
			}
			t.Setenv("S3FTPD_STORE_S3_SECRET_KEY", c.secret) // inherited by the process
			n := startProc(t, binary, "--config", p)
			addr := fmt.Sprintf("127.0.0.1:%d", port)
			n.waitListening(addr, 60*time.Second)
			// The FTP port accepts (backlog) before the ops server runs.
			if !n.logged("msg=\"serving FTP\"") {
				t.Fatalf("not serving:\n%s", n.out.String())
			}
			if !n.logged("store check failed") || !n.logged(c.want) {
				t.Fatalf("no ERROR line with %s:\n%s", c.want, n.out.String())
			}
			if !n.logged("but NOT READY: the store check failed") || strings.Contains(n.out.String(), "s3ftpd: ready on") {
				t.Errorf("stdout does not say the server is not ready:\n%s", n.out.String())
			}
			readyz := fmt.Sprintf("http://127.0.0.1:%d/readyz", ops)
			if code := httpCode(t, readyz); code != http.StatusServiceUnavailable {
				t.Fatalf("/readyz %d with a broken store, want 503", code)
			}
			// The line repeats while the problem lasts.
			for deadline := time.Now().Add(20 * time.Second); strings.Count(n.out.String(), "store check failed") < 2; time.Sleep(50 * time.Millisecond) {
				if time.Now().After(deadline) {
					t.Fatalf("the ERROR line did not repeat:\n%s", n.out.String())
				}
			}
			if c.name != "wrong bucket" {
				return
			}
			// Fix it: make the bucket. The node becomes ready by itself.
			createBucket(t, endpoint, "checkkey", "checksecret123", c.bucket)
			if !n.logged("store check passed") {
				t.Fatalf("no recovery line:\n%s", n.out.String())
			}
			if code := httpCode(t, readyz); code != http.StatusOK {
				t.Fatalf("/readyz %d after the fix, want 200", code)
			}
			fc, err := client.Dial(addr, client.DialWithTimeout(30*time.Second))
			if err != nil {
				t.Fatal(err)
			}
			defer fc.Quit()
			if err := fc.Login("demo", "demo"); err != nil {
				t.Fatal(err)
			}
			if err := fc.Stor("after-fix.txt", bytes.NewReader([]byte("stored"))); err != nil {
				t.Fatalf("upload after the fix: %v", err)
			}
		})
	}
}

func httpCode(t *testing.T, url string) int {
	t.Helper()
	c := http.Client{Timeout: 10 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}
