package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/textproto"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jlaffaye/ftp"
)

// ftpSession is a logged-in jlaffaye/ftp session whose connections are
// closed when the context ends, so that no transfer outlives its bound.
type ftpSession struct {
	*ftp.ServerConn
	mu         sync.Mutex
	ctrl, data net.Conn // the latest data connection only
	cancelled  bool
	stop       func() bool
}

// dialFTP opens a logged-in session (passive mode with PASV, as the issue
// asks, not EPSV).
func dialFTP(ctx context.Context, s *ftpServer) (*ftpSession, error) {
	return dialFTPData(ctx, s, "")
}

// dialFTPData is dialFTP whose data connections go to dataHost (an IP)
// instead of the address in the 227 reply, with the port from the reply:
// to another cluster node, as a load balancer with no stickiness would.
func dialFTPData(ctx context.Context, s *ftpServer, dataHost string) (*ftpSession, error) {
	fs := &ftpSession{}
	d := net.Dialer{Timeout: 30 * time.Second}
	dial := func(network, addr string) (net.Conn, error) {
		fs.mu.Lock()
		isData := fs.ctrl != nil
		fs.mu.Unlock()
		if isData && dataHost != "" {
			_, port, err := net.SplitHostPort(addr)
			if err != nil {
				return nil, err
			}
			addr = net.JoinHostPort(dataHost, port)
		}
		c, err := d.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		fs.mu.Lock()
		defer fs.mu.Unlock()
		if fs.cancelled {
			c.Close()
			return nil, ctx.Err()
		}
		if fs.ctrl == nil {
			fs.ctrl = c
		} else {
			fs.data = c
		}
		return c, nil
	}
	fs.stop = context.AfterFunc(ctx, func() {
		fs.mu.Lock()
		defer fs.mu.Unlock()
		fs.cancelled = true
		for _, c := range []net.Conn{fs.ctrl, fs.data} {
			if c != nil {
				c.Close()
			}
		}
	})
	c, err := ftp.Dial(s.addr, ftp.DialWithDialFunc(dial),
		ftp.DialWithDisabledEPSV(true), ftp.DialWithDisabledMLSD(true))
	if err != nil {
		fs.stop()
		return nil, fmt.Errorf("%s: dial: %w", s.name, err)
	}
	fs.ServerConn = c
	if err := c.Login(s.user, s.pass); err != nil {
		fs.close()
		return nil, fmt.Errorf("%s: login: %w", s.name, err)
	}
	return fs, nil
}

// close ends the session (QUIT, bounded by a deadline).
func (fs *ftpSession) close() {
	fs.stop()
	fs.mu.Lock()
	if fs.ctrl != nil {
		_ = fs.ctrl.SetDeadline(time.Now().Add(5 * time.Second))
	}
	fs.mu.Unlock()
	_ = fs.Quit()
}

// mkdirs creates directories, ignoring "exists" answers.
func mkdirs(ctx context.Context, s *ftpServer, dirs ...string) error {
	c, err := dialFTP(ctx, s)
	if err != nil {
		return err
	}
	defer c.close()
	for _, d := range dirs {
		_ = c.MakeDir(d)
	}
	return nil
}

// pattern is the payload: 1 MiB of random bytes, repeated. Random so that
// nothing on the way can compress it.
type pattern []byte

func newPattern() pattern {
	p := make(pattern, 1<<20)
	r := rand.NewChaCha8([32]byte{'s', '3', 'f', 't', 'p', 'd'})
	_, _ = r.Read(p)
	return p
}

// fill copies the payload bytes at offset off into b.
func (p pattern) fill(b []byte, off int64) {
	for len(b) > 0 {
		i := int(off % int64(len(p)))
		n := copy(b, p[i:])
		b = b[n:]
		off += int64(n)
	}
}

// source is an io.Reader of n payload bytes. Its WriteTo writes straight
// from the pattern (no copy), which io.Copy uses for the data connection.
type source struct {
	p   pattern
	off int64
	n   int64
}

func (s *source) Read(b []byte) (int, error) {
	if s.off >= s.n {
		return 0, io.EOF
	}
	b = b[:min(int64(len(b)), s.n-s.off)]
	s.p.fill(b, s.off)
	s.off += int64(len(b))
	return len(b), nil
}

func (s *source) WriteTo(w io.Writer) (int64, error) {
	var total int64
	for s.off < s.n {
		i := s.off % int64(len(s.p))
		chunk := s.p[i:min(int64(len(s.p)), i+s.n-s.off)]
		n, err := w.Write(chunk)
		s.off += int64(n)
		total += int64(n)
		if err != nil {
			return total, err
		}
	}
	return total, nil
}

// drain reads r to the end with a large buffer (io.Discard's 8 KiB reads
// would cost the client more system calls than the server) and returns
// the byte count.
func drain(r io.Reader, buf []byte) (int64, error) {
	var n int64
	for {
		m, err := r.Read(buf)
		n += int64(m)
		if errors.Is(err, io.EOF) {
			return n, nil
		}
		if err != nil {
			return n, err
		}
	}
}

// ftpStor uploads size payload bytes to path on session c.
func ftpStor(c *ftpSession, p pattern, path string, size int64) error {
	if err := c.Stor(path, &source{p: p, n: size}); err != nil {
		return fmt.Errorf("STOR %s: %w", path, err)
	}
	return nil
}

// ftpRetr downloads path on session c and checks its size.
func ftpRetr(c *ftpSession, path string, size int64, buf []byte) error {
	r, err := c.Retr(path)
	if err != nil {
		return fmt.Errorf("RETR %s: %w", path, err)
	}
	n, err := drain(r, buf)
	if cerr := r.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("RETR %s: %w", path, err)
	}
	if n != size {
		return fmt.Errorf("RETR %s: got %d bytes, want %d", path, n, size)
	}
	return nil
}

// rawConn is a minimal FTP control connection (no feature probing), used
// where the client must be cheap (10 000 idle sessions) or where the
// harness needs the timing of each step (LIST).
type rawConn struct {
	c net.Conn
	r *textproto.Reader
}

// rawLogin dials addr from local (nil: any) and logs in.
func rawLogin(ctx context.Context, addr string, local net.Addr, user, pass string) (*rawConn, error) {
	d := net.Dialer{Timeout: 10 * time.Second, LocalAddr: local}
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	rc := &rawConn{c: c, r: textproto.NewReader(bufio.NewReaderSize(c, 512))}
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	if _, _, err := rc.r.ReadResponse(220); err != nil {
		c.Close()
		return nil, fmt.Errorf("greeting: %w", err)
	}
	// vsftpd logs an anonymous user in at USER (230, no PASS).
	code, err := rc.cmdAny("USER " + user)
	if err == nil && code == 331 {
		_, err = rc.cmd(230, "PASS "+pass)
	} else if err == nil && code != 230 {
		err = fmt.Errorf("USER: %d", code)
	}
	if err != nil {
		c.Close()
		return nil, err
	}
	_ = c.SetDeadline(time.Time{})
	return rc, nil
}

// cmdAny sends one command and returns its reply's code.
func (rc *rawConn) cmdAny(line string) (int, error) {
	if _, err := io.WriteString(rc.c, line+"\r\n"); err != nil {
		return 0, err
	}
	code, _, err := rc.r.ReadResponse(0)
	return code, err
}

// cmd sends one command and reads its reply, which must have code want.
func (rc *rawConn) cmd(want int, line string) (string, error) {
	if _, err := io.WriteString(rc.c, line+"\r\n"); err != nil {
		return "", err
	}
	_, msg, err := rc.r.ReadResponse(want)
	if err != nil {
		verb, _, _ := strings.Cut(line, " ")
		return msg, fmt.Errorf("%s: %w", verb, err)
	}
	return msg, nil
}

// pasv sends PASV and returns the data address from the 227 reply
// (RFC 959 §4.1.2: h1,h2,h3,h4,p1,p2).
func (rc *rawConn) pasv() (string, error) {
	msg, err := rc.cmd(227, "PASV")
	if err != nil {
		return "", err
	}
	i, j := strings.IndexByte(msg, '('), strings.IndexByte(msg, ')')
	if i < 0 || j < i {
		return "", fmt.Errorf("PASV: cannot parse %q", msg)
	}
	f := strings.Split(msg[i+1:j], ",")
	if len(f) != 6 {
		return "", fmt.Errorf("PASV: cannot parse %q", msg)
	}
	p1, err1 := strconv.Atoi(strings.TrimSpace(f[4]))
	p2, err2 := strconv.Atoi(strings.TrimSpace(f[5]))
	if err1 != nil || err2 != nil {
		return "", fmt.Errorf("PASV: cannot parse %q", msg)
	}
	return net.JoinHostPort(strings.Join(f[:4], "."), strconv.Itoa(p1<<8|p2)), nil
}

func (rc *rawConn) close() {
	_ = rc.c.SetDeadline(time.Now().Add(2 * time.Second))
	_, _ = io.WriteString(rc.c, "QUIT\r\n")
	rc.c.Close()
}
