package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/jlaffaye/ftp"
)

// client is one logged-in jlaffaye/ftp session whose control and data
// connections come from one loopback source address. Every operation runs
// under a deadline: when it passes, both connections are closed, so no
// operation outlives it (the session is then dialled again).
type client struct {
	*ftp.ServerConn
	mu    sync.Mutex
	conns []net.Conn // control, then the latest data connection
	dead  bool
}

// errTimeout marks an operation that its deadline ended.
var errTimeout = errors.New("operation deadline exceeded")

// dialClient connects from src to addr and logs in, within timeout.
func dialClient(ctx context.Context, addr string, src net.IP, user, pass string, timeout time.Duration) (*client, error) {
	c := &client{}
	d := net.Dialer{Timeout: timeout, LocalAddr: &net.TCPAddr{IP: src}}
	dial := func(network, address string) (net.Conn, error) {
		nc, err := d.DialContext(ctx, network, address)
		if err != nil {
			return nil, err
		}
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.dead {
			nc.Close()
			return nil, errTimeout
		}
		if len(c.conns) < 2 {
			c.conns = append(c.conns, nc)
		} else {
			c.conns[1] = nc
		}
		return nc, nil
	}
	err := c.do(ctx, timeout, func() error {
		sc, err := ftp.Dial(addr, ftp.DialWithDialFunc(dial), ftp.DialWithDisabledEPSV(true),
			ftp.DialWithDisabledMLSD(true))
		if err != nil {
			return fmt.Errorf("dial: %w", err)
		}
		c.ServerConn = sc
		if err := sc.Login(user, pass); err != nil {
			return fmt.Errorf("login: %w", err)
		}
		return nil
	})
	if err != nil {
		c.kill()
		return nil, err
	}
	return c, nil
}

// do runs f; if timeout (or ctx) ends first, the connections are closed
// and the error wraps errTimeout.
func (c *client) do(ctx context.Context, timeout time.Duration, f func() error) error {
	octx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	stop := context.AfterFunc(octx, c.kill)
	err := f()
	if !stop() {
		return fmt.Errorf("%w (%v): %v", errTimeout, timeout, err)
	}
	return err
}

// kill closes the connections; the client is unusable afterwards.
func (c *client) kill() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.dead = true
	for _, nc := range c.conns {
		nc.Close()
	}
}

// quit ends the session politely, bounded by timeout.
func (c *client) quit(timeout time.Duration) {
	_ = c.do(context.Background(), timeout, c.Quit)
	c.kill()
}
