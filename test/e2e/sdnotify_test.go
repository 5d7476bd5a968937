package e2e

import (
	"net"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestSystemdNotify: the binary under a Type=notify unit, with a real
// unixgram socket in $NOTIFY_SOCKET as systemd has: READY=1 once serving,
// RELOADING=1 then READY=1 around a SIGHUP, STOPPING=1 at SIGTERM.
func TestSystemdNotify(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "notify")
	l, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	msgs := make(chan string, 64)
	go func() {
		b := make([]byte, 4096)
		for {
			n, err := l.Read(b)
			if err != nil {
				return
			}
			msgs <- string(b[:n])
		}
	}()
	want := func(prefix string) {
		t.Helper()
		timeout := time.After(30 * time.Second)
		for {
			select {
			case m := <-msgs:
				if strings.HasPrefix(m, prefix) {
					return
				}
			case <-timeout:
				t.Fatalf("no %q datagram", prefix)
			}
		}
	}
	t.Setenv("NOTIFY_SOCKET", sock)
	n := startNode(t, nodeOptions{})
	want("READY=1")
	if err := syscall.Kill(n.cmd.Process.Pid, syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	want("RELOADING=1\nMONOTONIC_USEC=")
	want("READY=1")
	if err := n.stop(syscall.SIGTERM, 20*time.Second); err != nil {
		t.Fatalf("exit after SIGTERM: %v", err)
	}
	want("STOPPING=1")
}
