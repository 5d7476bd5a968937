package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"strings"
	"time"
)

// cmdConn sends FTP commands one at a time on a raw control connection
// and records, per command, the S3 requests the latency proxy saw while
// the client waited for the final reply.
type cmdConn struct {
	rc    *rawConn
	proxy *latencyProxy
	stop  func() bool
}

// cmdResult is one command: how long the client waited, the S3 requests
// that arrived meanwhile (waited) and those that arrived after the reply
// until the next command (background; only when settled).
type cmdResult struct {
	wait       time.Duration
	waited     []s3Request
	background []s3Request
	reply      string
}

func dialCmd(ctx context.Context, srv *ftpServer, proxy *latencyProxy) (*cmdConn, error) {
	rc, err := rawLogin(ctx, srv.addr, nil, srv.user, srv.pass)
	if err != nil {
		return nil, fmt.Errorf("%s: login: %w", srv.name, err)
	}
	stop := context.AfterFunc(ctx, func() { rc.c.Close() })
	if _, err := rc.cmd(200, "TYPE I"); err != nil {
		rc.close()
		stop()
		return nil, err
	}
	return &cmdConn{rc: rc, proxy: proxy, stop: stop}, nil
}

func (c *cmdConn) close() {
	c.stop()
	c.rc.close()
}

// do sends line and reads a reply whose first digit is want's (2 for
// any 2xx; a full code to insist on one).
func (c *cmdConn) do(line string, want int) (cmdResult, error) {
	_ = c.rc.c.SetDeadline(time.Now().Add(2 * time.Minute))
	defer func() { _ = c.rc.c.SetDeadline(time.Time{}) }()
	t0 := time.Now()
	if _, err := io.WriteString(c.rc.c, line+"\r\n"); err != nil {
		return cmdResult{}, err
	}
	_, msg, err := c.rc.r.ReadResponse(want)
	t1 := time.Now()
	r := cmdResult{wait: t1.Sub(t0), waited: c.proxy.between(t0, t1), reply: msg}
	if err != nil {
		verb, _, _ := strings.Cut(line, " ")
		return r, fmt.Errorf("%s: %w", verb, err)
	}
	return r, nil
}

// data runs a command with a data connection (PASV first, not counted):
// upload is sent for STOR, otherwise what arrives is returned.
func (c *cmdConn) data(ctx context.Context, line string, upload []byte) (cmdResult, []byte, error) {
	addr, err := c.rc.pasv()
	if err != nil {
		return cmdResult{}, nil, err
	}
	d := net.Dialer{Timeout: 10 * time.Second}
	dc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return cmdResult{}, nil, fmt.Errorf("data connection: %w", err)
	}
	defer dc.Close()
	_ = dc.SetDeadline(time.Now().Add(2 * time.Minute))
	_ = c.rc.c.SetDeadline(time.Now().Add(2 * time.Minute))
	defer func() { _ = c.rc.c.SetDeadline(time.Time{}) }()
	t0 := time.Now()
	verb, _, _ := strings.Cut(line, " ")
	if _, err := io.WriteString(c.rc.c, line+"\r\n"); err != nil {
		return cmdResult{}, nil, err
	}
	if _, _, err := c.rc.r.ReadResponse(1); err != nil {
		return cmdResult{waited: c.proxy.between(t0, time.Now())}, nil, fmt.Errorf("%s: %w", verb, err)
	}
	var got bytes.Buffer
	if upload != nil {
		_, err = dc.Write(upload)
		if cerr := dc.Close(); err == nil {
			err = cerr
		}
	} else {
		_, err = io.Copy(&got, dc)
	}
	if err != nil {
		return cmdResult{}, nil, fmt.Errorf("%s data: %w", verb, err)
	}
	_, msg, err := c.rc.r.ReadResponse(2)
	t1 := time.Now()
	r := cmdResult{wait: t1.Sub(t0), waited: c.proxy.between(t0, t1), reply: msg}
	if err != nil {
		return r, nil, fmt.Errorf("%s: %w", verb, err)
	}
	return r, got.Bytes(), nil
}
