package ops

import (
	"context"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// A real unixgram socket, as systemd listens on: each message arrives as
// one datagram with the assignments systemd parses.
func TestNotifierSendsDatagrams(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "notify")
	l, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	env := map[string]string{"NOTIFY_SOCKET": sock, "WATCHDOG_USEC": "100000", "WATCHDOG_PID": "42"}
	n := NewNotifier(func(k string) string { return env[k] }, 42)
	read := func() string {
		t.Helper()
		l.SetReadDeadline(time.Now().Add(5 * time.Second))
		b := make([]byte, 4096)
		k, err := l.Read(b)
		if err != nil {
			t.Fatal(err)
		}
		return string(b[:k])
	}
	if err := n.Ready("serving FTP on 127.0.0.1:21"); err != nil {
		t.Fatal(err)
	}
	if got := read(); got != "READY=1\nSTATUS=serving FTP on 127.0.0.1:21" {
		t.Errorf("%q", got)
	}
	n.Reloading()
	if got := read(); !strings.HasPrefix(got, "RELOADING=1\nMONOTONIC_USEC=") || strings.HasSuffix(got, "=0") {
		t.Errorf("%q", got)
	}
	n.Stopping("draining\nnow")
	if got := read(); got != "STOPPING=1\nSTATUS=draining now" {
		t.Errorf("%q", got)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); n.Watchdog(ctx, nil) }()
	if got := read(); got != "WATCHDOG=1" {
		t.Errorf("%q", got)
	}
	cancel()
	<-done
	// No socket: nothing to do, no error.
	var none *Notifier = NewNotifier(func(string) string { return "" }, 1)
	if none != nil || none.Ready("x") != nil {
		t.Error("a notifier without NOTIFY_SOCKET")
	}
}
