package ftp_test

import (
	"strings"
	"testing"
)

// Names with invalid UTF-8 (a literal 0xFF is sent as Telnet IAC IAC,
// RFC 959 §4.1.3), C0 controls or DEL are refused with 553 by
// every command that takes a name; nothing is stored. UTF-8 names work.
func TestBadNamesRefused(t *testing.T) {
	srv := startWith(t, memBackend, nil)
	r := dialRaw(t, srv.Addr, "")
	r.login()
	for _, name := range []string{"a\rb", "bad\xfe.txt", "bad\xff\xff.txt", "\xc3(", "x\x7fy", "tab\there", "nul\x00"} {
		r.cmd(553, "STOR %s", name)
		r.cmd(553, "MKD %s", name)
		r.cmd(553, "RNTO %s", name)
		r.cmd(553, "CWD %s", name)
		r.cmd(553, "RETR %s", name)
	}
	c := login(t, srv.Addr)
	if err := c.Stor("é ok.txt", strings.NewReader("fine")); err != nil {
		t.Fatal(err)
	}
	names, err := c.NameList("/")
	if err != nil {
		t.Fatal(err)
	}
	if len(names) != 1 || names[0] != "/é ok.txt" {
		t.Fatalf("stored names %q, want only the UTF-8 one", names)
	}
}
