package e2e

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
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
	big, _ := randomFile(t, dir, "big.bin", 40<<20)
	base := fmt.Sprintf("ftp://127.0.0.1:%d/", n.Port)
	mustRun(t, time.Minute, nil, curl, "-sS", "--user", "demo:demo", "-T", big, base+"down.bin")

	// An upload and a download that stop half-way until Chromium has
	// rendered the page: in flight however slow the machine is.
	release := make(chan struct{})
	data := make([]byte, 6<<20)
	up := goClient(t, n.Addr, "127.0.0.1")
	defer up.Quit()
	uploaded := make(chan error, 1)
	go func() {
		uploaded <- up.Stor("slow-up.bin", io.MultiReader(bytes.NewReader(data[:1<<20]), gate(release), bytes.NewReader(data[1<<20:])))
	}()
	down := goClient(t, n.Addr, "127.0.0.1")
	defer down.Quit()
	resp, err := down.Retr("down.bin")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.CopyN(io.Discard, resp, 1<<20); err != nil {
		t.Fatal(err)
	}
	statusURL := fmt.Sprintf("http://127.0.0.1:%d/status", opsPort)
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		page := httpGet(t, statusURL)
		if strings.Contains(page, `data-path="/slow-up.bin"`) && strings.Contains(page, `data-path="/down.bin"`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the transfers never showed on /status:\n%s", page)
		}
	}
	dom := mustRun(t, 2*time.Minute, nil, chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
		"--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--user-data-dir="+t.TempDir(), "--dump-dom", statusURL)
	close(release)
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
	_ = resp.Close() // the download ends early (426)
	body := httpGet(t, fmt.Sprintf("http://127.0.0.1:%d/metrics", opsPort))
	for _, want := range []string{`s3ftpd_s3_requests_total{operation="UploadPart",outcome="ok"}`,
		`s3ftpd_s3_requests_total{operation="GetObject",outcome="ok"}`, `s3ftpd_transfers_total{direction="upload",result="ok"} 2`} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}

// gate is a reader that blocks until release is closed, then ends.
type gate chan struct{}

func (g gate) Read([]byte) (int, error) {
	<-g
	return 0, io.EOF
}

func httpGet(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}
