package ftp_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	client "github.com/jlaffaye/ftp"

	"github.com/s3ftpd/s3ftpd/internal/certs"
	"github.com/s3ftpd/s3ftpd/internal/ftp"
)

func tlsServer(t *testing.T, configure func(*ftp.Server)) (*ftp.Server, string) {
	t.Helper()
	src, err := certs.SelfSigned("localhost", "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	var srv *ftp.Server
	s := startWith(t, memBackend, func(s *ftp.Server) {
		s.TLSConfig = certs.ServerConfig(src)
		s.TLSRequireReuse = true
		if configure != nil {
			configure(s)
		}
		srv = s
	})
	return srv, s.Addr
}

// clientTLS resumes sessions across connections (a shared cache keyed by
// ServerName), as curl, lftp and python with session reuse do.
func clientTLS(cache bool) *tls.Config {
	c := &tls.Config{InsecureSkipVerify: true, ServerName: "localhost"}
	if cache {
		c.ClientSessionCache = tls.NewLRUClientSessionCache(16)
	}
	return c
}

func TestExplicitTLSTransfer(t *testing.T) {
	for _, version := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		_, addr := tlsServer(t, nil)
		cfg := clientTLS(true)
		cfg.MaxVersion = version
		c := dial(t, addr, client.DialWithExplicitTLS(cfg))
		if err := c.Login("alice", "secret"); err != nil {
			t.Fatal(err)
		}
		data := randomBytes(t, 3<<20+7)
		if err := c.Stor("secret.bin", bytes.NewReader(data)); err != nil {
			t.Fatalf("TLS %x: STOR: %v", version, err)
		}
		if got := retrieve(t, c, "secret.bin", 0); !bytes.Equal(got, data) {
			t.Fatalf("TLS %x: download differs", version)
		}
		if _, err := c.List("/"); err != nil {
			t.Fatalf("TLS %x: LIST: %v", version, err)
		}
	}
}

func TestDataTLSWithoutResumptionRefused(t *testing.T) {
	_, addr := tlsServer(t, nil)
	c := dial(t, addr, client.DialWithExplicitTLS(clientTLS(false)))
	if err := c.Login("alice", "secret"); err != nil {
		t.Fatal(err)
	}
	err := c.Stor("x", strings.NewReader("data"))
	if err == nil {
		t.Fatal("a PROT P data connection that did not resume the control session was accepted")
	}
	// Switched off, the same client works.
	_, addr2 := tlsServer(t, func(s *ftp.Server) { s.TLSRequireReuse = false })
	c2 := dial(t, addr2, client.DialWithExplicitTLS(clientTLS(false)))
	if err := c2.Login("alice", "secret"); err != nil {
		t.Fatal(err)
	}
	if err := c2.Stor("x", strings.NewReader("data")); err != nil {
		t.Fatalf("require_session_reuse off: %v", err)
	}
}

// A third party that connects to the passive port first — even with TLS,
// but without the control connection's session — is refused, and the
// client's own connection then is not hijacked.
func TestDataTLSHijackRefused(t *testing.T) {
	_, addr := tlsServer(t, nil)
	r := dialRaw(t, addr, "")
	r.cmd(234, "AUTH TLS")
	tc := tls.Client(r.conn, clientTLS(true))
	r.tp = newTP(tc)
	r.cmd(331, "USER alice")
	r.cmd(230, "PASS secret")
	r.cmd(200, "PBSZ 0")
	r.cmd(200, "PROT P")
	daddr := r.epsv()
	r.send("STOR stolen")
	raw, err := net.Dial("tcp", daddr) // same IP, so only TLS reuse can tell
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	r.expect(150)
	thief := tls.Client(raw, clientTLS(false))
	thief.SetDeadline(time.Now().Add(5 * time.Second))
	if err := thief.Handshake(); err == nil {
		thief.Write([]byte("evil"))
		thief.Close()
	}
	r.expect(425)
	r.cmd(550, "SIZE stolen")
}

func TestTLSPolicies(t *testing.T) {
	_, addr := tlsServer(t, func(s *ftp.Server) {
		s.TLSControl = ftp.TLSRequired
		s.TLSData = ftp.TLSRequired
	})
	r := dialRaw(t, addr, "")
	feat := r.cmd(211, "FEAT")
	for _, f := range []string{"AUTH TLS", "PBSZ", "PROT"} {
		if !strings.Contains(feat, "\n "+f+"\n") {
			t.Errorf("FEAT lacks %s", f)
		}
	}
	r.cmd(530, "USER alice") // plaintext login refused
	r.cmd(503, "PBSZ 0")
	r.cmd(504, "AUTH KERBEROS")
	r.cmd(234, "AUTH TLS")
	r.tp = newTP(tls.Client(r.conn, clientTLS(true)))
	r.cmd(331, "USER alice")
	r.cmd(230, "PASS secret")
	r.cmd(503, "PROT P") // PBSZ first
	r.cmd(200, "PBSZ 0")
	r.cmd(534, "PROT C") // data must be protected
	r.cmd(536, "PROT S")
	r.epsv()
	r.cmd(521, "LIST") // no PROT P yet
	r.cmd(534, "CCC")

	// Per-user policy: "secure" must use TLS even where the server does not.
	_, addr2 := tlsServer(t, nil)
	p := dialRaw(t, addr2, "")
	p.cmd(331, "USER secure")
	p.cmd(530, "PASS s")
	p.cmd(331, "USER alice")
	p.cmd(230, "PASS secret")
}

func TestImplicitTLS(t *testing.T) {
	srv, _ := tlsServer(t, nil)
	ln, err := ftp.Listen(context.Background(), "127.0.0.1:0", 0)
	if err != nil {
		t.Fatal(err)
	}
	go srv.ServeTLS(ln)
	c := dial(t, ln.Addr().String(), client.DialWithTLS(clientTLS(true)))
	if err := c.Login("alice", "secret"); err != nil {
		t.Fatal(err)
	}
	if err := c.Stor("imp", strings.NewReader("implicit")); err != nil {
		t.Fatal(err)
	}
	r, err := c.Retr("imp")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(r)
	r.Close()
	if string(b) != "implicit" {
		t.Fatalf("implicit TLS download = %q", b)
	}
}
