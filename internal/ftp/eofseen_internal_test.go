package ftp

import (
	"crypto/tls"
	"io"
	"net"
	"testing"

	"github.com/s3ftpd/s3ftpd/internal/certs"
)

// TestTLSEndTellsCloseNotifyFromTCPEnd: what confirmEOF relies on. A TLS
// data connection that the client ends with close_notify leaves eofSeen
// unended; one whose TCP connection just ends at a record boundary (what a
// relaying node that died leaves) reads as io.EOF too, but eofSeen saw it.
func TestTLSEndTellsCloseNotifyFromTCPEnd(t *testing.T) {
	src, err := certs.SelfSigned("localhost", "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	for _, notify := range []bool{true, false} {
		done := make(chan *eofSeen, 1)
		go func() {
			c, err := ln.Accept()
			if err != nil {
				done <- nil
				return
			}
			defer c.Close()
			seen := &eofSeen{Conn: c}
			got, err := io.ReadAll(tls.Server(seen, certs.ServerConfig(src)))
			if err != nil || string(got) != "the whole file" {
				t.Errorf("close_notify %v: read %q, %v; want the data and io.EOF", notify, got, err)
			}
			done <- seen
		}()
		raw, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		tc := tls.Client(raw, &tls.Config{InsecureSkipVerify: true, ServerName: "localhost"})
		if _, err := io.WriteString(tc, "the whole file"); err != nil {
			t.Fatal(err)
		}
		if notify {
			tc.CloseWrite() // close_notify, the TCP connection stays open
		} else {
			raw.(*net.TCPConn).CloseWrite() // a FIN, no close_notify
		}
		seen := <-done
		raw.Close()
		if seen == nil {
			t.Fatal("accept failed")
		}
		if seen.ended.Load() == notify {
			t.Errorf("close_notify %v: eofSeen.ended %v", notify, seen.ended.Load())
		}
	}
}
