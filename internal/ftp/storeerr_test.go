package ftp_test

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/s3ftpd/s3ftpd/internal/s3fs"
	"github.com/s3ftpd/s3ftpd/internal/s3fs/s3faults"
)

// Names the store can never hold are refused before any request with 553
// (RFC 959 "File name not allowed") where a command would create them;
// looking one up finds nothing (550). Nothing is left behind.
func TestNamesStoreCannotHoldS3(t *testing.T) {
	f := startFaultyS3(t, s3fs.Options{ResumeWindow: time.Hour})
	c := login(t, f.srv.Addr)
	long := strings.Repeat("n", 256)                              // one component over 255 bytes
	deep := strings.Repeat(strings.Repeat("d", 200)+"/", 6) + "f" // a key over 1 024 bytes
	if err := c.Stor("ok.txt", strings.NewReader("ok")); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{long, deep, "nul\x00name"} {
		short := name[:min(len(name), 20)]
		if err := c.Stor(name, strings.NewReader("data")); replyCode(err) != 553 {
			t.Errorf("STOR %s…: %v; want 553", short, err)
		}
		if err := c.Append(name, strings.NewReader("data")); replyCode(err) != 553 {
			t.Errorf("APPE %s…: %v; want 553", short, err)
		}
		if err := c.MakeDir(name); replyCode(err) != 553 {
			t.Errorf("MKD %s…: %v; want 553", short, err)
		}
		if err := c.Rename("ok.txt", name); replyCode(err) != 553 {
			t.Errorf("RNTO %s…: %v; want 553", short, err)
		}
		// A lookup of a name the store cannot hold: nothing is there (550);
		// a name with control bytes is refused by the protocol (553).
		lookup := 550
		if strings.ContainsRune(name, 0) {
			lookup = 553
		}
		if _, err := c.FileSize(name); replyCode(err) != lookup {
			t.Errorf("SIZE %s…: %v; want %d", short, err, lookup)
		}
		if _, err := retr(c, name); replyCode(err) != lookup {
			t.Errorf("RETR %s…: %v; want %d", short, err, lookup)
		}
	}
	if got := f.get(t, "ok.txt"); string(got) != "ok" {
		t.Errorf("ok.txt = %q after the refused renames", got)
	}
	if leaked, partials := f.leftovers(t); len(leaked) != 0 || partials != 0 {
		t.Errorf("left behind: uploads %v, %d partials", leaked, partials)
	}
}

// S3 answers that a retry will not change are 5xx replies that say what
// happened — never "No such file" for a missing bucket — logged at WARN
// with the S3 error code, and an upload that fails so keeps no partial.
func TestPermanentStoreErrorsS3(t *testing.T) {
	big := bytes.Repeat([]byte("0123456789abcdef"), (12<<20)/16) // 3 parts of 5 MiB
	cases := []struct {
		name string
		rule s3faults.Rule
		cmd  string // STOR, STOR-big, RETR
		code int
		text string
	}{
		{"missing bucket on GET", s3faults.Rule{Op: "GetObject", Kind: s3faults.Error, Status: 404, Code: "NoSuchBucket"}, "RETR", 550, "storage refused"},
		{"bad access key on GET", s3faults.Rule{Op: "GetObject", Kind: s3faults.Error, Status: 403, Code: "InvalidAccessKeyId"}, "RETR", 550, "storage refused"},
		{"access denied on GET", s3faults.Rule{Op: "GetObject", Kind: s3faults.Error, Status: 403, Code: "AccessDenied"}, "RETR", 550, "Permission denied"},
		{"bad signature on PUT", s3faults.Rule{Op: "PutObject", Kind: s3faults.Error, Status: 403, Code: "SignatureDoesNotMatch"}, "STOR", 550, "storage refused"},
		{"invalid argument on PUT", s3faults.Rule{Op: "PutObject", Kind: s3faults.Error, Status: 400, Code: "InvalidArgument"}, "STOR", 550, "storage refused"},
		{"entity too large on PUT", s3faults.Rule{Op: "PutObject", Kind: s3faults.Error, Status: 400, Code: "EntityTooLarge"}, "STOR", 552, ""},
		{"missing bucket on part", s3faults.Rule{Op: "UploadPart", Kind: s3faults.Error, Status: 404, Code: "NoSuchBucket"}, "STOR-big", 550, "storage refused"},
		{"access denied on part", s3faults.Rule{Op: "UploadPart", Kind: s3faults.Error, Status: 403, Code: "AccessDenied"}, "STOR-big", 550, "Permission denied"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := startFaultyS3(t, s3fs.Options{ResumeWindow: time.Hour, PartSize: s3fs.MinPartSize})
			f.put(t, "old.bin", []byte("old bytes"))
			c := login(t, f.srv.Addr)
			f.proxy.Set(tc.rule)
			var err error
			switch tc.cmd {
			case "RETR":
				_, err = retr(c, "old.bin")
			case "STOR":
				err = c.Stor("new.bin", strings.NewReader("new bytes"))
			case "STOR-big":
				err = c.Stor("new.bin", bytes.NewReader(big))
			}
			if replyCode(err) != tc.code || !strings.Contains(err.Error(), tc.text) {
				t.Errorf("%s: %v; want %d %q", tc.cmd, err, tc.code, tc.text)
			}
			if f.proxy.Injected(tc.rule.Op, s3faults.Error) == 0 {
				t.Fatal("the fault was never injected")
			}
			f.proxy.Set()
			if !strings.Contains(f.logs.String(), "level=WARN") || !strings.Contains(f.logs.String(), "s3_code="+tc.rule.Code) {
				t.Errorf("no WARN line with s3_code=%s in the log:\n%s", tc.rule.Code, f.logs.String())
			}
			if tc.cmd != "RETR" {
				if _, err := c.FileSize("new.bin"); replyCode(err) != 550 {
					t.Errorf("SIZE new.bin after the refused upload: %v; want 550 (no partial)", err)
				}
				if leaked, partials := f.leftovers(t); len(leaked) != 0 || partials != 0 {
					t.Errorf("left behind: uploads %v, %d partials", leaked, partials)
				}
			}
			if got := f.get(t, "old.bin"); string(got) != "old bytes" {
				t.Errorf("old.bin = %q", got)
			}
		})
	}
}

// A store that stops answering altogether (every request accepted, none
// answered: a SIGSTOPped store) turns each command into a 451 or 426
// within the stall timeout plus slack; the session stays usable and works
// again once the store answers.
func TestStalledStoreS3(t *testing.T) {
	f := startFaultyS3(t, s3fs.Options{ResumeWindow: time.Hour})
	f.put(t, "dir/file.bin", randBytes(1<<20))
	c := login(t, f.srv.Addr)
	f.proxy.Set(s3faults.Rule{Kind: s3faults.StallHeaders})
	limit := testStall + 20*time.Second
	cmds := []struct {
		name string
		run  func() error
	}{
		{"STOR", func() error { return c.Stor("new.bin", bytes.NewReader(randBytes(100<<10))) }},
		{"RETR", func() error { _, err := retr(c, "dir/file.bin"); return err }},
		{"LIST", func() error { _, err := c.List("dir"); return err }},
		{"SIZE", func() error { _, err := c.FileSize("dir/file.bin"); return err }},
		{"CWD", func() error { return c.ChangeDir("dir") }},
	}
	for _, cmd := range cmds {
		err, d := bounded(t, limit, cmd.name+" on a stalled store", cmd.run)
		if code := replyCode(err); code != 451 && code != 426 {
			t.Errorf("%s on a stalled store: %v after %v; want 451 or 426", cmd.name, err, d)
		}
	}
	f.proxy.Set()
	if err := c.ChangeDir("dir"); err != nil {
		t.Fatalf("CWD after the store came back: %v", err)
	}
}
