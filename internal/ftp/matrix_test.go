package ftp_test

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"

	client "github.com/jlaffaye/ftp"

	"github.com/s3ftpd/s3ftpd/internal/s3fs"
	"github.com/s3ftpd/s3ftpd/internal/s3fs/s3faults"
)

// matrixOp is an FTP command run under a store fault: what the fault
// hits (the command's main S3 operation), how to set up, run and check.
type matrixOp struct {
	name   string
	target string // S3 operation the fault is injected into
	setup  func(t *testing.T, f *faultyS3)
	run    func(c *client.ServerConn) error
	// check verifies the store afterwards given the command's outcome:
	// nothing torn, nothing acknowledged missing.
	check func(t *testing.T, f *faultyS3, err error)
}

type matrixFault struct {
	name string
	rule s3faults.Rule
	// mustSucceed: the SDK's retries absorb this fault.
	mustSucceed bool
}

func matrixFaults() []matrixFault {
	return []matrixFault{
		{"503 SlowDown, once", s3faults.Rule{Kind: s3faults.SlowDown, Times: 1}, true},
		{"503 SlowDown, always", s3faults.Rule{Kind: s3faults.SlowDown}, false},
		{"500 InternalError, once", s3faults.Rule{Kind: s3faults.InternalError, Times: 1}, true},
		{"500 InternalError, always", s3faults.Rule{Kind: s3faults.InternalError}, false},
		{"reset mid-body, once", s3faults.Rule{Kind: s3faults.Reset, Times: 1}, true},
		{"reset mid-body, always", s3faults.Rule{Kind: s3faults.Reset}, false},
		{"stall, no response", s3faults.Rule{Kind: s3faults.StallHeaders}, false},
		{"stall mid-body", s3faults.Rule{Kind: s3faults.StallBody}, false},
		{"response lost, once", s3faults.Rule{Kind: s3faults.LoseResponse, Times: 1}, true},
		{"latency 1 s", s3faults.Rule{Kind: s3faults.Latency, Delay: time.Second}, true},
	}
}

func matrixOps() []matrixOp {
	oldSmall, newSmall := []byte("old small file"), randBytes(100<<10)
	oldBig, newBig := []byte("old big file"), randBytes(12<<20) // 3 parts of 5 MiB
	dl := randBytes(12 << 20)
	src := randBytes(1 << 20)
	base, tail := randBytes(6<<20), randBytes(1<<20)
	oldOrNew := func(name string, old, new []byte) func(*testing.T, *faultyS3, error) {
		return func(t *testing.T, f *faultyS3, err error) {
			got := f.get(t, name)
			switch {
			case err == nil && !bytes.Equal(got, new):
				t.Errorf("%s after 226: %d bytes, not the %d uploaded", name, len(got), len(new))
			case err != nil && !bytes.Equal(got, old) && !bytes.Equal(got, new):
				t.Errorf("%s after a failed upload: %d bytes, neither the old %d nor the new %d (torn)", name, len(got), len(old), len(new))
			}
		}
	}
	return []matrixOp{
		{"STOR 100 KiB", "PutObject",
			func(t *testing.T, f *faultyS3) { f.put(t, "small.bin", oldSmall) },
			func(c *client.ServerConn) error { return c.Stor("small.bin", bytes.NewReader(newSmall)) },
			oldOrNew("small.bin", oldSmall, newSmall)},
		{"STOR 12 MiB multipart", "UploadPart",
			func(t *testing.T, f *faultyS3) { f.put(t, "big.bin", oldBig) },
			func(c *client.ServerConn) error { return c.Stor("big.bin", bytes.NewReader(newBig)) },
			oldOrNew("big.bin", oldBig, newBig)},
		{"RETR 12 MiB", "GetObject",
			func(t *testing.T, f *faultyS3) { f.put(t, "dl.bin", dl) },
			func(c *client.ServerConn) error {
				got, err := retr(c, "dl.bin")
				if err == nil && !bytes.Equal(got, dl) {
					return fmt.Errorf("RETR served %d bytes, not the %d stored (wrong bytes under 226)", len(got), len(dl))
				}
				return err
			},
			func(t *testing.T, f *faultyS3, err error) {
				if err != nil && replyCode(err) == 0 {
					t.Error(err)
				}
			}},
		{"LIST 30 entries", "ListObjectsV2",
			func(t *testing.T, f *faultyS3) {
				for i := range 30 {
					f.put(t, fmt.Sprintf("d/f%02d", i), []byte("x"))
				}
			},
			func(c *client.ServerConn) error {
				es, err := c.List("d")
				if err == nil && len(es) != 30 {
					return fmt.Errorf("LIST: %d entries, want 30 (a silently short listing)", len(es))
				}
				return err
			},
			func(*testing.T, *faultyS3, error) {}},
		{"RNFR/RNTO 1 MiB", "CopyObject",
			func(t *testing.T, f *faultyS3) { f.put(t, "from.bin", src) },
			func(c *client.ServerConn) error { return c.Rename("from.bin", "to.bin") },
			func(t *testing.T, f *faultyS3, err error) {
				from, to := f.get(t, "from.bin"), f.get(t, "to.bin")
				switch {
				case err == nil && (from != nil || !bytes.Equal(to, src)):
					t.Errorf("after 250: from %d bytes, to %d bytes; want gone and %d", len(from), len(to), len(src))
				case err != nil && !bytes.Equal(from, src):
					t.Errorf("after a failed rename the source has %d bytes, not %d", len(from), len(src))
				case err != nil && to != nil && !bytes.Equal(to, src):
					t.Errorf("after a failed rename the target has %d bytes (torn)", len(to))
				}
			}},
		{"STOR 12 MiB (completion)", "CompleteMultipartUpload",
			func(t *testing.T, f *faultyS3) { f.put(t, "big.bin", oldBig) },
			func(c *client.ServerConn) error { return c.Stor("big.bin", bytes.NewReader(newBig)) },
			oldOrNew("big.bin", oldBig, newBig)},
		{"APPE 1 MiB to 6 MiB", "UploadPartCopy",
			func(t *testing.T, f *faultyS3) { f.put(t, "app.bin", base) },
			func(c *client.ServerConn) error { return c.Append("app.bin", bytes.NewReader(tail)) },
			oldOrNew("app.bin", base, append(bytes.Clone(base), tail...))},
		{"APPE 100 KiB to 1 KiB", "PutObject",
			func(t *testing.T, f *faultyS3) { f.put(t, "app.bin", oldSmall) },
			func(c *client.ServerConn) error { return c.Append("app.bin", bytes.NewReader(newSmall)) },
			oldOrNew("app.bin", oldSmall, append(bytes.Clone(oldSmall), newSmall...))},
		{"APPE 1 MiB to 6 MiB (completion)", "CompleteMultipartUpload",
			func(t *testing.T, f *faultyS3) { f.put(t, "app.bin", base) },
			func(c *client.ServerConn) error { return c.Append("app.bin", bytes.NewReader(tail)) },
			oldOrNew("app.bin", base, append(bytes.Clone(base), tail...))},
	}
}

// Under each store fault, each kind of command either succeeds byte-exact
// (after the SDK's retries) or fails with a clear reply within the stall
// timeout and slack; afterwards no object is torn, no acknowledged upload
// is missing and no multipart upload is left that no partial accounts for.
// The measured matrix is logged (go test -v) and is in docs/reliability.md.
func TestStoreFaultMatrixS3(t *testing.T) {
	faults, ops := matrixFaults(), matrixOps()
	if testing.Short() {
		faults = []matrixFault{faults[0], faults[4], faults[6]}
	}
	results := map[string]string{}
	for _, fl := range faults {
		for _, op := range ops {
			t.Run(fl.name+"/"+op.name, func(t *testing.T) {
				f := startFaultyS3(t, s3fs.Options{ResumeWindow: time.Hour, PartSize: s3fs.MinPartSize})
				op.setup(t, f)
				c := login(t, f.srv.Addr)
				rule := fl.rule
				rule.Op = op.target
				f.proxy.Set(rule)
				err, d := bounded(t, time.Minute, op.name, func() error { return op.run(c) })
				f.proxy.Set()
				hits := f.proxy.Injected(op.target, rule.Kind)
				outcome := "ok"
				if err != nil {
					outcome = err.Error()
					if code := replyCode(err); code != 0 {
						outcome = fmt.Sprint(code)
					}
				}
				op.check(t, f, err)
				leaked, partials := f.leftovers(t)
				note := fmt.Sprintf("%s (%.1f s", outcome, d.Seconds())
				if partials > 0 {
					note += fmt.Sprintf(", %d partial kept", partials)
				}
				results[fl.name+"|"+op.name] = note + ")"
				switch {
				case hits == 0:
					t.Errorf("the fault was never injected into %s", op.target)
				case err != nil && replyCode(err) < 400:
					t.Errorf("no clear reply: %v", err)
				case err != nil && fl.mustSucceed:
					t.Errorf("failed (%v) although the SDK's retries should absorb %s", err, fl.name)
				}
				if len(leaked) > 0 {
					t.Errorf("leaked multipart uploads: %v", leaked)
				}
			})
		}
	}
	var b strings.Builder
	b.WriteString("\n| fault |")
	for _, op := range ops {
		b.WriteString(" " + op.name + " |")
	}
	b.WriteString("\n|---|" + strings.Repeat("---|", len(ops)) + "\n")
	for _, fl := range faults {
		b.WriteString("| " + fl.name + " |")
		for _, op := range ops {
			b.WriteString(" " + results[fl.name+"|"+op.name] + " |")
		}
		b.WriteString("\n")
	}
	t.Log(b.String())
}
