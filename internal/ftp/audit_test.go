package ftp_test

import (
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/s3ftpd/s3ftpd/internal/ftp"
)

// Every change to storage, and every refused one, leaves an INFO audit line
// with the user, the real client IP, what and the reply code; sessions log
// connect and disconnect; a transfer line says direction, bytes, type,
// TLS and the code.
func TestAuditLines(t *testing.T) {
	logs := &syncBuffer{}
	srv := startWith(t, memBackend, func(s *ftp.Server) {
		s.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	})
	r := dialRaw(t, srv.Addr, "")
	r.login()
	r.cmd(257, "MKD d")
	r.stor("d/a", []byte("abc"))
	r.cmd(350, "RNFR d/a")
	r.cmd(250, "RNTO d/b")
	r.cmd(250, "DELE d/b")
	r.cmd(550, "DELE d/missing")
	r.cmd(250, "RMD d")
	r.cmd(221, "QUIT")
	ro := dialRaw(t, srv.Addr, "")
	ro.cmd(331, "USER reader")
	ro.cmd(230, "PASS r")
	ro.cmd(550, "MKD nope")
	ro.cmd(221, "QUIT")
	// The disconnect line follows the 221 reply: wait for it (bounded).
	out := logs.String()
	for i := 0; i < 200 && strings.Count(out, "msg=disconnect") < 2; i++ {
		time.Sleep(10 * time.Millisecond)
		out = logs.String()
	}
	for _, want := range []string{
		`msg=connect session=1 client=127.0.0.1 local=127.0.0.1 tls=false`,
		`msg=audit session=1 client=127.0.0.1 user=alice verb=MKD code=257 path=/d`,
		`msg=audit session=1 client=127.0.0.1 user=alice verb=RNTO code=250 from=/d/a path=/d/b`,
		`msg=audit session=1 client=127.0.0.1 user=alice verb=DELE code=250 path=/d/b`,
		`msg=audit session=1 client=127.0.0.1 user=alice verb=DELE code=550 path=/d/missing`,
		`msg=audit session=1 client=127.0.0.1 user=alice verb=RMD code=250 path=/d`,
		`msg=audit session=2 client=127.0.0.1 user=reader verb=MKD code=550 path=/nope`,
		`verb=STOR direction=upload path=/d/a bytes=3`,
		`type=ascii ok=true code=226`,
		`msg=disconnect session=1 client=127.0.0.1 user=alice tls=false`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %q", want)
		}
	}
	if strings.Contains(out, "verb=STOR code=") {
		t.Error("a transfer got an audit line beside its transfer line")
	}
	if strings.Contains(out, "secret") {
		t.Error("a password reached the log")
	}
	if t.Failed() {
		t.Log(out)
	}
}
