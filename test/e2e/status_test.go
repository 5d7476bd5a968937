package e2e

import (
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestStatusPageInChromium: /status, rendered by headless Chromium while an
// upload and a download run, shows both transfers (the download with a
// progress bar against its size) and the sessions; /metrics counts the S3
// operations behind them.
func TestStatusPageInChromium(t *testing.T) {
	chromium := requireTool(t, "chromium")
	curl := requireTool(t, "curl")
	opsPort := freePort(t)
	n := startNode(t, nodeOptions{extra: fmt.Sprintf("ops:\n  listen: \"127.0.0.1:%d\"\n", opsPort)})
	dir := t.TempDir()
	up, _ := randomFile(t, dir, "up.bin", 6<<20)
	big, _ := randomFile(t, dir, "big.bin", 40<<20)
	base := fmt.Sprintf("ftp://127.0.0.1:%d/", n.Port)
	mustRun(t, time.Minute, nil, curl, "-sS", "--user", "demo:demo", "-T", big, base+"down.bin")

	// A slow upload, and a slow download cut off after 6 s (the socket
	// buffers would take a small file in one go).
	uploaded := make(chan error, 1)
	go func() {
		out, err := run(t, time.Minute, nil, curl, "-sS", "--user", "demo:demo", "--limit-rate", "1M", "-T", up, base+"slow-up.bin")
		if err != nil {
			err = fmt.Errorf("%v: %s", err, out)
		}
		uploaded <- err
	}()
	downloaded := make(chan struct{})
	go func() {
		defer close(downloaded)
		run(t, time.Minute, nil, curl, "-sS", "--user", "demo:demo", "--limit-rate", "2M", "--max-time", "6",
			"-o", filepath.Join(dir, "back.bin"), base+"down.bin")
	}()
	time.Sleep(2 * time.Second) // both are under way
	dom := mustRun(t, time.Minute, nil, chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
		"--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--user-data-dir="+t.TempDir(), "--dump-dom", fmt.Sprintf("http://127.0.0.1:%d/status", opsPort))
	for _, want := range []string{
		`data-path="/slow-up.bin"`, `data-path="/down.bin"`,
		fmt.Sprintf(`<progress max="%d"`, 40<<20), // the download's size is known
		`class="session"`, "demo",
	} {
		if !strings.Contains(dom, want) {
			t.Errorf("/status as Chromium rendered it lacks %q:\n%s", want, dom)
		}
	}
	if err := <-uploaded; err != nil {
		t.Error(err)
	}
	<-downloaded
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/metrics", opsPort))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{`s3ftpd_s3_requests_total{operation="UploadPart",outcome="ok"}`,
		`s3ftpd_s3_requests_total{operation="GetObject",outcome="ok"}`, `s3ftpd_transfers_total{direction="upload",result="ok"} 2`} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}
