package e2e

import (
	"crypto/sha256"
	"encoding/hex"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestUploadOneGiBBoundedMemory streams 1 GiB through curl into the server
// (and its in-process store) and checks the server's peak RSS stays far
// below the file size: uploads are streamed in bounded parts.
func TestUploadOneGiBBoundedMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("1 GiB transfer skipped in -short mode")
	}
	curl := requireTool(t, "curl")
	n := startNode(t, nodeOptions{})
	const size = 1 << 30
	url := "ftp://127.0.0.1:" + itoa(n.Port) + "/big.bin"
	idle := n.rss()

	// Generate the stream on the fly (no 1 GiB temp file) and hash it.
	cmd := exec.Command(curl, "-sS", "--user", "demo:demo", "--max-time", "600", "-T", "-", url)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sent := sha256.New()
	src := io.LimitReader(&fastRand{r: rand.NewChaCha8([32]byte{1})}, size)
	start := time.Now()
	if _, err := io.Copy(io.MultiWriter(stdin, sent), src); err != nil {
		t.Fatal(err)
	}
	stdin.Close()
	if err := cmd.Wait(); err != nil {
		t.Fatalf("curl upload: %v", err)
	}
	upload := time.Since(start)
	peak := n.peakRSS()

	// Download and compare hashes.
	start = time.Now()
	dl := exec.Command(curl, "-sS", "--user", "demo:demo", "--max-time", "600", url)
	out, err := dl.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := dl.Start(); err != nil {
		t.Fatal(err)
	}
	got := sha256.New()
	m, _ := io.Copy(got, out)
	if err := dl.Wait(); err != nil {
		t.Fatalf("curl download: %v", err)
	}
	download := time.Since(start)
	if m != size || hex.EncodeToString(got.Sum(nil)) != hex.EncodeToString(sent.Sum(nil)) {
		t.Fatalf("downloaded %d bytes, hash differs or short", m)
	}
	t.Logf("1 GiB: upload %v (%.0f MiB/s), download %v (%.0f MiB/s); server RSS idle %d MiB, peak %d MiB",
		upload.Round(time.Millisecond), size/upload.Seconds()/(1<<20), download.Round(time.Millisecond),
		size/download.Seconds()/(1<<20), idle>>20, peak>>20)
	// A server that buffered the file would show ≥ 1 GiB. The bound leaves
	// room for the in-process store and the Go heap, and still catches it.
	if peak > 400<<20 {
		t.Fatalf("peak RSS %d MiB during a 1 GiB upload: memory grows with file size", peak>>20)
	}
}

// fastRand is a quick pseudo-random stream (incompressible test data).
type fastRand struct{ r *rand.ChaCha8 }

func (f *fastRand) Read(p []byte) (int, error) { return f.r.Read(p) }

// TestKillNineKeepsData: data committed before a kill -9 is intact after a
// restart on the same data directory, and an upload cut by the kill leaves
// nothing torn behind.
func TestKillNineKeepsData(t *testing.T) {
	curl := requireTool(t, "curl")
	dir := t.TempDir()
	n := startNode(t, nodeOptions{dataDir: dir})
	base := "ftp://127.0.0.1:" + itoa(n.Port) + "/"
	auth := []string{"-sS", "--user", "demo:demo", "--max-time", "60"}
	src, data := randomFile(t, t.TempDir(), "keep.bin", 9<<20)
	mustRun(t, time.Minute, nil, curl, append(auth, "-T", src, base+"keep.bin")...)

	// Start a slow upload, then kill -9 the server in the middle of it.
	cmd := exec.Command(curl, append(auth, "--limit-rate", "5M", "-T", "-", base+"cut.bin")...)
	stdin, _ := cmd.StdinPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		io.Copy(stdin, io.LimitReader(&fastRand{r: rand.NewChaCha8([32]byte{2})}, 64<<20))
		stdin.Close()
	}()
	time.Sleep(3 * time.Second)
	n.stop(syscall.SIGKILL, 10*time.Second)
	cmd.Wait()

	n2 := startNode(t, nodeOptions{dataDir: dir})
	base = "ftp://127.0.0.1:" + itoa(n2.Port) + "/"
	got := mustRun(t, time.Minute, nil, curl, append(auth, base+"keep.bin")...)
	if got != string(data) {
		t.Fatalf("after kill -9: keep.bin has %d bytes, want %d intact", len(got), len(data))
	}
	names := mustRun(t, time.Minute, nil, curl, append(auth, "--list-only", base)...)
	if strings.Contains(names, "cut.bin") {
		t.Fatalf("a torn upload is visible after kill -9: %q", names)
	}
}
