package ops

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// Notifier tells systemd about the service's state (sd_notify(3)): one
// datagram per message on the unix socket in $NOTIFY_SOCKET, which systemd
// sets for Type=notify units. A nil *Notifier (no socket) does nothing, so
// callers need not check. (github.com/coreos/go-systemd is not served by
// the module proxy here; the protocol is one datagram.)
type Notifier struct {
	addr        *net.UnixAddr
	watchdog    time.Duration // WATCHDOG_USEC; 0: no watchdog
	watchdogPID bool          // WATCHDOG_PID names this process or is unset
}

// NewNotifier reads NOTIFY_SOCKET and WATCHDOG_USEC/WATCHDOG_PID through
// getenv (os.Getenv); nil when NOTIFY_SOCKET is unset. An "@" name is an
// abstract socket (Go maps it).
func NewNotifier(getenv func(string) string, pid int) *Notifier {
	sock := getenv("NOTIFY_SOCKET")
	if sock == "" {
		return nil
	}
	n := &Notifier{addr: &net.UnixAddr{Name: sock, Net: "unixgram"}}
	if us, err := strconv.ParseInt(getenv("WATCHDOG_USEC"), 10, 64); err == nil && us > 0 {
		p := getenv("WATCHDOG_PID")
		n.watchdog = time.Duration(us) * time.Microsecond
		n.watchdogPID = p == "" || p == strconv.Itoa(pid)
	}
	return n
}

// Notify sends one message of newline-separated assignments, e.g.
// "READY=1" or "STATUS=draining".
func (n *Notifier) Notify(state string) error {
	if n == nil {
		return nil
	}
	c, err := net.DialUnix("unixgram", nil, n.addr)
	if err != nil {
		return fmt.Errorf("sd_notify: %w", err)
	}
	defer c.Close()
	_ = c.SetWriteDeadline(time.Now().Add(time.Second))
	if _, err := c.Write([]byte(state)); err != nil {
		return fmt.Errorf("sd_notify: %w", err)
	}
	return nil
}

// Ready is READY=1 with a STATUS line.
func (n *Notifier) Ready(status string) error { return n.Notify("READY=1\nSTATUS=" + oneLine(status)) }

// Reloading is RELOADING=1 with the monotonic time systemd wants with it
// (Type=notify-reload; older systemd ignores it).
func (n *Notifier) Reloading() error {
	var ts unix.Timespec
	_ = unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	return n.Notify(fmt.Sprintf("RELOADING=1\nMONOTONIC_USEC=%d", ts.Nano()/1000))
}

// Stopping is STOPPING=1 with a STATUS line.
func (n *Notifier) Stopping(status string) error {
	return n.Notify("STOPPING=1\nSTATUS=" + oneLine(status))
}

// Status is a STATUS= line alone (shown by systemctl status).
func (n *Notifier) Status(status string) error { return n.Notify("STATUS=" + oneLine(status)) }

// Watchdog sends WATCHDOG=1 at half of WATCHDOG_USEC until ctx ends, when
// systemd asked for a watchdog (WatchdogSec=); alive reports whether to
// send this time (a false skips one ping, so systemd restarts a process
// whose serving loop is stuck).
func (n *Notifier) Watchdog(ctx context.Context, alive func() bool) {
	if n == nil || n.watchdog <= 0 || !n.watchdogPID {
		return
	}
	t := time.NewTicker(n.watchdog / 2)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if alive == nil || alive() {
				_ = n.Notify("WATCHDOG=1")
			}
		}
	}
}

func oneLine(s string) string { return strings.ReplaceAll(s, "\n", " ") }
