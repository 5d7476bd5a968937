package ftp_test

import (
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash/crc32"
	"strings"
	"testing"
)

// Extension commands on storage that implements Resumer, Hasher and
// ModTimeSetter: APPE, REST+STOR, HASH, XCRC/XMD5/XSHA256, MFMT.
func testExtensions(t *testing.T, b backend) {
	srv := startWith(t, b, nil)
	c := login(t, srv.Addr)
	if err := c.Stor("a.txt", strings.NewReader("hello")); err != nil {
		t.Fatal(err)
	}
	if err := c.Append("a.txt", strings.NewReader(" world")); err != nil {
		t.Fatalf("APPE: %v", err)
	}
	if got := retrieve(t, c, "a.txt", 0); string(got) != "hello world" {
		t.Fatalf("after APPE: %q", got)
	}
	if err := c.Append("new.txt", strings.NewReader("fresh")); err != nil {
		t.Fatalf("APPE to a new file: %v", err)
	}
	if got := retrieve(t, c, "new.txt", 0); string(got) != "fresh" {
		t.Fatalf("APPE to a new file: %q", got)
	}
	// REST + STOR continues at the stored size, and only there.
	if err := c.StorFrom("a.txt", strings.NewReader("!"), 11); err != nil {
		t.Fatalf("REST 11 + STOR: %v", err)
	}
	wantCode(t, c.StorFrom("a.txt", strings.NewReader("x"), 5), 554)
	content := "hello world!"
	if got := retrieve(t, c, "a.txt", 0); string(got) != content {
		t.Fatalf("after REST+STOR: %q", got)
	}

	r := dialRaw(t, srv.Addr, "")
	r.login()
	feat := r.cmd(211, "FEAT")
	for _, f := range []string{"HASH SHA-256*;SHA-1;MD5;CRC32", "MFMT", "XCRC"} {
		if !strings.Contains(feat, "\n "+f+"\n") {
			t.Errorf("FEAT lacks %q", f)
		}
	}
	sha := sha256.Sum256([]byte(content))
	if msg, want := r.cmd(213, "HASH a.txt"), fmt.Sprintf("SHA-256 0-12 %s /a.txt", hex.EncodeToString(sha[:])); msg != want {
		t.Fatalf("HASH = %q, want %q", msg, want)
	}
	r.cmd(200, "OPTS HASH MD5")
	sum := md5.Sum([]byte(content))
	if msg := r.cmd(213, "HASH a.txt"); !strings.Contains(msg, hex.EncodeToString(sum[:])) {
		t.Fatalf("HASH with MD5 = %q", msg)
	}
	r.cmd(501, "OPTS HASH WHIRLPOOL")
	if msg, want := r.cmd(250, "XCRC a.txt 6 11"), fmt.Sprintf("%08X", crc32.ChecksumIEEE([]byte("world"))); msg != want {
		t.Fatalf("XCRC range = %q, want %q", msg, want)
	}
	if msg := r.cmd(250, "XSHA256 a.txt"); msg != strings.ToUpper(hex.EncodeToString(sha[:])) {
		t.Fatalf("XSHA256 = %q", msg)
	}
	r.cmd(550, "HASH missing")
	r.cmd(213, "MFMT 20200102030405 a.txt")
	if msg := r.cmd(213, "MDTM a.txt"); msg != "20200102030405" {
		t.Fatalf("MDTM after MFMT = %q", msg)
	}
	r.cmd(501, "MFMT yesterday a.txt")
}

func TestExtensionsMem(t *testing.T) { testExtensions(t, memBackend) }
