package main

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/s3ftpd/s3ftpd/internal/config"
)

func TestReadyURLIsDialable(t *testing.T) {
	cfg := config.Default()
	for addr, want := range map[string]string{
		"[::]:2121":        "ftp://demo:demo@[::1]:2121/",
		"0.0.0.0:21":       "ftp://demo:demo@127.0.0.1:21/",
		"[2001:db8::1]:21": "ftp://demo:demo@[2001:db8::1]:21/",
		"127.0.0.2:2121":   "ftp://demo:demo@127.0.0.2:2121/",
	} {
		if got := readyURL(cfg, addr); !strings.HasPrefix(got, want) {
			t.Errorf("%s: %q, want %q", addr, got, want)
		}
	}
}

// hash-password on a real terminal (a pty from python3): it prompts twice,
// the password is not echoed, and the hash matches it.
func TestHashPasswordOnATerminal(t *testing.T) {
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 not installed")
	}
	bin := filepath.Join(t.TempDir(), "s3ftpd")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	script := `
import os, pty, sys, termios, time
pid, fd = pty.fork()
if pid == 0:
    os.execv(sys.argv[1], [sys.argv[1], "hash-password"])
out = b""
def until(s):
    global out
    end = time.time() + 20
    while s not in out and time.time() < end:
        out += os.read(fd, 1024)
def echo_off():
    # Type only once the prompt turned echo off, as a person would (input
    # typed ahead of that is echoed by the terminal, not by s3ftpd).
    end = time.time() + 20
    while termios.tcgetattr(fd)[3] & termios.ECHO and time.time() < end:
        time.sleep(0.01)
until(b"Password: "); echo_off(); os.write(fd, b"pty-secret-1\n")
until(b"Again: "); echo_off(); os.write(fd, b"pty-secret-1\n")
end = time.time() + 20
while b"$2a$" not in out and time.time() < end:
    try:
        out += os.read(fd, 1024)
    except OSError:
        break
os.waitpid(pid, 0)
sys.stdout.write(out.decode())
`
	cmd := exec.Command(py, "-c", script, bin)
	done := make(chan struct{})
	var out []byte
	go func() { defer close(done); out, err = cmd.CombinedOutput() }()
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		cmd.Process.Kill()
		<-done
		t.Fatal("hash-password on a pty did not finish")
	}
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	text := string(out)
	if strings.Contains(text, "pty-secret-1") {
		t.Errorf("the password was echoed:\n%s", text)
	}
	i := strings.Index(text, "$2a$")
	if i < 0 {
		t.Fatalf("no hash in:\n%s", text)
	}
	hash := strings.Fields(text[i:])[0]
	if bcrypt.CompareHashAndPassword([]byte(hash), []byte("pty-secret-1")) != nil {
		t.Errorf("%q is not a hash of the typed password", hash)
	}
}
