package ftp_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/textproto"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/s3ftpd/s3ftpd/internal/ftp"
)

// raw is a control connection driven line by line, for exact replies.
type raw struct {
	t    *testing.T
	conn net.Conn
	tp   *textproto.Conn
}

// dialRaw connects (from a given source IP, if any) and reads the 220.
func dialRaw(t *testing.T, addr string, from string) *raw {
	t.Helper()
	r := connectRaw(t, addr, from)
	r.expect(220)
	return r
}

// connectRaw connects without reading the greeting.
func connectRaw(t *testing.T, addr string, from string) *raw {
	t.Helper()
	c := dataDial(t, addr, from)
	return &raw{t: t, conn: c, tp: textproto.NewConn(c)}
}

func (r *raw) send(format string, args ...any) {
	r.t.Helper()
	if err := r.tp.PrintfLine(format, args...); err != nil {
		r.t.Fatal(err)
	}
}

// expect reads one reply and checks its code; it returns the text.
func (r *raw) expect(code int) string {
	r.t.Helper()
	_ = r.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	got, msg, err := r.tp.ReadResponse(0)
	if err != nil && got == 0 {
		r.t.Fatalf("want %d, read failed: %v", code, err)
	}
	if got != code {
		r.t.Fatalf("want %d, got %d %s", code, got, msg)
	}
	return msg
}

func (r *raw) cmd(code int, format string, args ...any) string {
	r.t.Helper()
	r.send(format, args...)
	return r.expect(code)
}

func (r *raw) login() {
	r.t.Helper()
	r.cmd(331, "USER alice")
	r.cmd(230, "PASS secret")
}

// epsv opens a passive endpoint and returns its address on the control host.
func (r *raw) epsv() string {
	r.t.Helper()
	msg := r.cmd(229, "EPSV")
	i, j := strings.Index(msg, "(|||"), strings.LastIndex(msg, "|)")
	host, _, _ := net.SplitHostPort(r.conn.RemoteAddr().String())
	return net.JoinHostPort(host, msg[i+4:j])
}

// startStor opens a passive data connection and starts STOR name on it.
func (r *raw) startStor(name string) net.Conn {
	r.t.Helper()
	addr := r.epsv()
	r.send("STOR %s", name)
	d := dataDial(r.t, addr, "")
	r.expect(150)
	return d
}

// stor uploads data to name and expects 226.
func (r *raw) stor(name string, data []byte) {
	r.t.Helper()
	d := r.startStor(name)
	if _, err := d.Write(data); err != nil {
		r.t.Fatal(err)
	}
	d.Close()
	r.expect(226)
}

func dataDial(t *testing.T, addr, from string) net.Conn {
	t.Helper()
	d := net.Dialer{Timeout: 5 * time.Second}
	if from != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(from)}
	}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func TestRawReplies(t *testing.T) {
	srv := startWith(t, memBackend, nil)
	r := dialRaw(t, srv.Addr, "")
	r.cmd(530, "PWD")
	r.cmd(503, "PASS x")
	feat := r.cmd(211, "FEAT")
	for _, f := range []string{"EPRT", "EPSV", "MDTM", "MLST type*;size*;modify*;perm*;", "REST STREAM", "SIZE", "TVFS", "UTF8"} {
		if !strings.Contains(feat, "\n "+f+"\n") {
			t.Errorf("FEAT lacks %q:\n%s", f, feat)
		}
	}
	r.cmd(200, "OPTS UTF8 ON")
	r.cmd(215, "SYST")
	r.login()
	r.cmd(257, `MKD a"b`)
	if msg := r.cmd(250, `CWD a"b`); msg == "" {
		t.Fatal("empty 250")
	}
	if msg := r.cmd(257, "PWD"); !strings.HasPrefix(msg, `"/a""b"`) {
		t.Fatalf("PWD = %q; want the quote doubled", msg)
	}
	r.cmd(250, "XCUP")
	r.cmd(500, "%s", "NOOP "+strings.Repeat("x", 9000))
	r.cmd(200, "NOOP")
	r.cmd(502, "SITE CHMOD 777 x")
	r.cmd(502, "REIN")
	r.cmd(200, "TYPE I")
	r.cmd(200, "TYPE A")
	r.cmd(504, "TYPE E")
	r.cmd(504, "MODE B")
	r.cmd(200, "STRU F")
	r.cmd(202, "ALLO 100")
	r.cmd(501, "REST -1")
	r.cmd(425, "RETR x") // no PASV/PORT yet
	r.cmd(503, "RNTO x")
	// Telnet IP/DM before a command (as clients send before ABOR).
	if _, err := r.conn.Write([]byte("\xff\xf4\xff\xf2NOOP\r\n")); err != nil {
		t.Fatal(err)
	}
	r.expect(200)
	r.cmd(225, "ABOR")
	r.cmd(211, "STAT")
	r.cmd(550, "MLST /missing")
	msg := r.cmd(250, "MLST /")
	if !strings.Contains(msg, "type=dir;") {
		t.Fatalf("MLST / = %q", msg)
	}
	r.cmd(221, "QUIT")
}

// Active mode goes only to the client's own address. The client here is
// a real remote one as a trusted LB states it (PROXY header, source
// 127.0.0.7): a plain loopback client would be this server itself
// (TestActiveModeToOwnAddressRefused).
func TestActiveModeOnlyToClient(t *testing.T) {
	srv := startWith(t, memBackend, nil)
	addr := serveOn(t, srv.Server, false, trustLoopbackLB)
	r := connectRaw(t, addr, "127.0.0.1")
	fmt.Fprintf(r.conn, "PROXY TCP4 127.0.0.7 127.0.0.1 4000 21\r\n")
	r.expect(220)
	r.login()
	r.cmd(501, "PORT 127,0,0,2,200,10") // another host: FTP bounce
	r.cmd(501, "EPRT |1|127.0.0.3|5000|")
	r.cmd(501, "PORT 127,0,0,7,0,21") // privileged port
	r.cmd(501, "EPRT |2|127.0.0.7|5000|")
	r.cmd(522, "EPRT |3|x|5000|")

	// A real active transfer to the client's address.
	ln, err := net.Listen("tcp", "127.0.0.7:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	port := ln.Addr().(*net.TCPAddr).Port
	r.cmd(200, "EPRT |1|127.0.0.7|%d|", port)
	r.send("STOR active.txt")
	c, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	r.expect(150)
	c.Write([]byte("over active"))
	c.Close()
	r.expect(226)
	r.cmd(213, "SIZE active.txt")

	off := startWith(t, memBackend, func(s *ftp.Server) { s.AllowActive = false })
	r2 := dialRaw(t, off.Addr, "")
	r2.login()
	r2.cmd(502, "PORT 127,0,0,1,200,10")
}

// A client whose address is one of ours (loopback here: a LB on this host
// without PROXY, a local proxy) gets no active data connection: it would
// make the server connect to itself, e.g. send file bytes into the
// embedded S3 port.
func TestActiveModeToOwnAddressRefused(t *testing.T) {
	srv := startWith(t, memBackend, nil)
	r := dialRaw(t, srv.Addr, "127.0.0.1")
	r.login()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	port := ln.Addr().(*net.TCPAddr).Port
	r.cmd(501, "EPRT |1|127.0.0.1|%d|", port)
	r.cmd(501, "PORT 127,0,0,1,%d,%d", port>>8, port&0xff)
	r.cmd(425, "STOR x") // nothing was set up
}

func TestPassiveRefusesOtherAddress(t *testing.T) {
	srv := startWith(t, memBackend, nil)
	r := dialRaw(t, srv.Addr, "127.0.0.1")
	r.login()
	addr := r.epsv()
	// Someone else connects to the passive port first: refused (closed).
	thief := dataDial(t, addr, "127.0.0.9")
	thief.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, err := thief.Read(make([]byte, 1)); err == nil {
		t.Fatalf("thief read %d bytes", n)
	}
	r.send("STOR stolen")
	d := dataDial(t, addr, "127.0.0.1")
	r.expect(150)
	d.Write([]byte("mine"))
	d.Close()
	r.expect(226)
	if msg := r.cmd(213, "SIZE stolen"); msg != "4" {
		t.Fatalf("SIZE = %s", msg)
	}
}

// Many sessions from different client IPs share a single passive port.
func TestOnePassivePortManyClients(t *testing.T) {
	srv := startWith(t, memBackend, func(s *ftp.Server) {
		pool := s.Passive.(*ftp.PortPool)
		pool.Last = pool.First // one port
	})
	const clients = 200
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	for i := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			from := fmt.Sprintf("127.0.%d.%d", 1+i/250, 1+i%250)
			if err := storeFrom(srv.Addr, from, fmt.Sprintf("f%d", i)); err != nil {
				errs <- fmt.Errorf("%s: %w", from, err)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	r := dialRaw(t, srv.Addr, "")
	r.login()
	for i := range clients {
		if msg := r.cmd(213, "SIZE f%d", i); msg != strconv.Itoa(len(fmt.Sprintf("f%d", i))) {
			t.Fatalf("SIZE f%d = %s", i, msg)
		}
	}
	// The same client asking twice gets 425 when the only port is taken.
	a := dialRaw(t, srv.Addr, "127.0.0.1")
	a.login()
	a.epsv()
	b := dialRaw(t, srv.Addr, "127.0.0.1")
	b.login()
	b.cmd(425, "EPSV")
}

func storeFrom(addr, from, name string) error {
	d := net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(20 * time.Second))
	tp := textproto.NewConn(c)
	step := func(code int, cmd string) (string, error) {
		if cmd != "" {
			if err := tp.PrintfLine("%s", cmd); err != nil {
				return "", err
			}
		}
		_, msg, err := tp.ReadResponse(code)
		return msg, err
	}
	for _, s := range []struct {
		code int
		cmd  string
	}{{220, ""}, {331, "USER alice"}, {230, "PASS secret"}} {
		if _, err := step(s.code, s.cmd); err != nil {
			return err
		}
	}
	msg, err := step(229, "EPSV")
	if err != nil {
		return err
	}
	port := msg[strings.Index(msg, "(|||")+4 : strings.LastIndex(msg, "|)")]
	if err := tp.PrintfLine("STOR %s", name); err != nil {
		return err
	}
	dc, err := d.Dial("tcp", net.JoinHostPort("127.0.0.1", port))
	if err != nil {
		return err
	}
	if _, err := step(150, ""); err != nil {
		return err
	}
	dc.Write([]byte(name))
	dc.Close()
	_, err = step(226, "")
	return err
}

func TestAbortUploadKeepsOldFile(t *testing.T) {
	srv := startWith(t, memBackend, nil)
	r := dialRaw(t, srv.Addr, "")
	r.login()
	r.stor("keep", []byte("original"))

	// ABOR in the middle of a replacement upload.
	d := r.startStor("keep")
	d.Write(bytes.Repeat([]byte("new"), 1000))
	r.conn.Write([]byte("\xff\xf4\xff\xf2ABOR\r\n"))
	r.expect(426)
	r.expect(226)
	if msg := r.cmd(213, "SIZE keep"); msg != "8" {
		t.Fatalf("after ABOR, SIZE = %s; want the old 8 bytes", msg)
	}

	// The client vanishes (killed: both connections close at once, the
	// data one with a clean FIN). Repeated, since it is a race to lose.
	for i := range 20 {
		r := dialRaw(t, srv.Addr, "")
		r.login()
		d := r.startStor("keep")
		d.Write(bytes.Repeat([]byte("torn"), 1000))
		r.conn.Close()
		d.Close()

		r2 := dialRaw(t, srv.Addr, "")
		r2.login()
		deadline := time.Now().Add(5 * time.Second)
		for srv.Sessions() > 2 && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
		}
		if msg := r2.cmd(213, "SIZE keep"); msg != "8" {
			t.Fatalf("round %d: after the client vanished, SIZE = %s; want the old 8 bytes", i, msg)
		}
		r2.cmd(221, "QUIT")
	}
}

func TestAbortDownload(t *testing.T) {
	srv := startWith(t, memBackend, nil)
	c := login(t, srv.Addr)
	if err := c.Stor("big", bytes.NewReader(make([]byte, 20<<20))); err != nil {
		t.Fatal(err)
	}
	r := dialRaw(t, srv.Addr, "")
	r.login()
	addr := r.epsv()
	r.send("RETR big")
	d := dataDial(t, addr, "")
	r.expect(150)
	io.ReadFull(d, make([]byte, 1000)) // read a little, then stop reading
	r.cmd(213, "STAT")
	r.send("ABOR")
	r.expect(426)
	r.expect(226)
	r.cmd(200, "NOOP")
}

func TestIdleTimeout(t *testing.T) {
	srv := startWith(t, memBackend, func(s *ftp.Server) { s.IdleTimeout = 200 * time.Millisecond })
	r := dialRaw(t, srv.Addr, "")
	r.login()
	r.expect(421)
}

func TestDataConnectionTimeout(t *testing.T) {
	srv := startWith(t, memBackend, func(s *ftp.Server) { s.DataTimeout = 200 * time.Millisecond })
	r := dialRaw(t, srv.Addr, "")
	r.login()
	r.epsv()
	r.cmd(425, "LIST") // the client never connects
	r.cmd(200, "NOOP")
}

func TestStalledUpload(t *testing.T) {
	srv := startWith(t, memBackend, func(s *ftp.Server) { s.StallTimeout = 300 * time.Millisecond })
	r := dialRaw(t, srv.Addr, "")
	r.login()
	addr := r.epsv()
	r.send("STOR stall")
	d := dataDial(t, addr, "")
	r.expect(150)
	d.Write([]byte("some"))
	r.expect(426) // nothing more arrives
	r.cmd(550, "SIZE stall")
}

func TestShutdownDrains(t *testing.T) {
	srv := startWith(t, memBackend, nil)
	idle := dialRaw(t, srv.Addr, "")
	idle.login()
	busy := dialRaw(t, srv.Addr, "")
	busy.login()
	addr := busy.epsv()
	busy.send("STOR during-drain")
	d := dataDial(t, addr, "")
	busy.expect(150)
	d.Write([]byte("part one;"))

	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		done <- srv.Shutdown(ctx)
	}()
	idle.expect(421)
	time.Sleep(50 * time.Millisecond)
	d.Write([]byte("part two"))
	d.Close()
	busy.expect(226)
	busy.expect(421)
	if err := <-done; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	// New connections are refused.
	if c, err := net.DialTimeout("tcp", srv.Addr, time.Second); err == nil {
		c.SetReadDeadline(time.Now().Add(2 * time.Second))
		b, _ := io.ReadAll(c)
		c.Close()
		if bytes.HasPrefix(b, []byte("220")) {
			t.Fatal("a new session was served after Shutdown")
		}
	}
}

func TestSTOUPicksAFreshName(t *testing.T) {
	srv := startWith(t, memBackend, nil)
	r := dialRaw(t, srv.Addr, "")
	r.login()
	names := map[string]bool{}
	for range 2 {
		addr := r.epsv()
		r.send("STOU report")
		d := dataDial(t, addr, "")
		msg := r.expect(150)
		name, ok := strings.CutPrefix(msg, "FILE: ")
		if !ok || !strings.HasPrefix(name, "report.") || names[name] {
			t.Fatalf("150 %q: want FILE: report.<unique>", msg)
		}
		names[name] = true
		d.Write([]byte("x"))
		d.Close()
		r.expect(226)
		r.cmd(213, "SIZE %s", name)
	}
}

func newTP(c net.Conn) *textproto.Conn { return textproto.NewConn(c) }

// Every MLSD/MLST entry carries modify and perm — directories and / too —
// and size for files only (RFC 3659 §7.5), as strict parsers want; LIST
// shows a directory the same time.
func TestMLSDFactsOnEveryEntry(t *testing.T) {
	srv := startWith(t, memBackend, nil)
	r := dialRaw(t, srv.Addr, "")
	r.login()
	r.cmd(257, "MKD sub")
	r.stor("f.txt", []byte("hello"))
	for _, path := range []string{"/", "/sub", "/f.txt"} {
		msg := r.cmd(250, "MLST %s", path)
		lines := strings.Split(msg, "\n")
		if len(lines) < 2 || !strings.Contains(lines[1], "modify=") || !strings.Contains(lines[1], "perm=") {
			t.Errorf("MLST %s lacks modify or perm: %q", path, msg)
		}
	}
	addr := r.epsv()
	r.send("MLSD /")
	dc := dataDial(t, addr, "")
	body, _ := io.ReadAll(dc)
	r.expect(150)
	r.expect(226)
	for _, line := range strings.Split(strings.TrimSpace(string(body)), "\r\n") {
		facts, name, _ := strings.Cut(line, " ")
		isDir := strings.Contains(facts, "type=dir;")
		switch {
		case !strings.Contains(facts, "modify=") || !strings.Contains(facts, "perm="):
			t.Errorf("MLSD entry %q lacks modify or perm: %q", name, line)
		case isDir && strings.Contains(facts, "size="):
			t.Errorf("MLSD directory %q has a size fact: %q", name, line)
		case !isDir && !strings.Contains(facts, "size=5;"):
			t.Errorf("MLSD file %q lacks its size: %q", name, line)
		}
	}
}

// NLST and LIST expand a pattern in the last element (what mget sends):
// NLST prefixes the names with the directory as given.
func TestListWildcards(t *testing.T) {
	srv := startWith(t, memBackend, nil)
	r := dialRaw(t, srv.Addr, "")
	r.login()
	r.cmd(257, "MKD sub")
	for _, n := range []string{"a.csv", "b.csv", "c.txt", "sub/d.csv", "sub/e.txt"} {
		r.stor(n, []byte(n))
	}
	list := func(cmd string) []string {
		addr := r.epsv()
		r.send("%s", cmd)
		dc := dataDial(t, addr, "")
		body, _ := io.ReadAll(dc)
		r.expect(150)
		r.expect(226)
		var out []string
		for _, l := range strings.Split(strings.TrimSpace(string(body)), "\r\n") {
			if l != "" {
				out = append(out, l)
			}
		}
		return out
	}
	for cmd, want := range map[string]string{
		"NLST *.csv":     "a.csv b.csv",
		"NLST sub/*.csv": "sub/d.csv",
		"NLST ?.txt":     "c.txt",
		"NLST *.none":    "",
		"NLST -l *.csv":  "a.csv b.csv",
	} {
		if got := strings.Join(list(cmd), " "); got != want {
			t.Errorf("%s = %q, want %q", cmd, got, want)
		}
	}
	lines := list("LIST -la *.txt")
	if len(lines) != 1 || !strings.HasSuffix(lines[0], " c.txt") {
		t.Errorf("LIST -la *.txt = %q", lines)
	}
	r.epsv() // a missing directory is 550, before any data connection
	r.cmd(550, "NLST missing/*.csv")
}

// STOR, APPE, MKD and RNTO into a directory that does not exist are
// refused (553 for uploads, as vsftpd; 550 for MKD and RNTO), instead of
// silently making the prefix; into one that exists they work.
func TestNoImplicitDirectories(t *testing.T) {
	srv := startWith(t, memBackend, nil)
	r := dialRaw(t, srv.Addr, "")
	r.login()
	r.stor("f", []byte("x"))
	for _, c := range []string{"STOR does/not/exist", "APPE does/not/exist", "STOR f/x"} {
		r.epsv()
		if c == "STOR f/x" {
			r.cmd(550, "%s", c) // f is a file
			continue
		}
		r.cmd(553, "%s", c)
	}
	r.cmd(550, "MKD a/b/c")
	r.cmd(350, "RNFR f")
	r.cmd(550, "RNTO no/such/g")
	r.cmd(257, "MKD a")
	r.cmd(257, "MKD a/b")
	r.stor("a/b/g", []byte("y"))
	r.cmd(350, "RNFR f")
	r.cmd(250, "RNTO a/f")
	r.cmd(250, "CWD a/b")
	r.stor("h", []byte("z"))
	r.epsv()
	r.cmd(553, "STOR /gone/x")
}
