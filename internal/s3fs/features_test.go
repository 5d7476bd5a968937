package s3fs

import (
	"context"
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"io"
	"io/fs"
	"net/netip"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go/middleware"

	"github.com/s3ftpd/s3ftpd/internal/ftp"
)

// HASH answers every algorithm and range; whole-file SHA-256 (single PUT)
// and CRC32 (any upload of ours) come from stored values without a GET.
func TestHash(t *testing.T) {
	e := newEnv(t, Options{PartSize: MinPartSize})
	var gets atomic.Int32
	e.store = countGets(e.store, &gets)
	e.fs = e.store.FS("/")
	for _, size := range []int64{0, 1000, 12*mib + 5} {
		name := fmt.Sprintf("/h%d", size)
		u := e.open(name, 0)
		e.copyRange(u, 2, 0, size)
		if err := u.Commit(e.ctx); err != nil {
			t.Fatal(err)
		}
		data, _ := io.ReadAll(newPattern(size, 2))
		for _, c := range []struct {
			algo string
			h    func() hash.Hash
		}{
			{ftp.HashSHA256, sha256.New}, {ftp.HashSHA1, sha1.New}, {ftp.HashMD5, md5.New},
			{ftp.HashCRC32, func() hash.Hash { return crc32.NewIEEE() }},
		} {
			for _, r := range [][2]int64{{0, -1}, {0, size}, {size / 3, size - size/5}, {size, size}} {
				h := c.h()
				end := r[1]
				if end < 0 {
					end = size
				}
				h.Write(data[r[0]:end])
				want := hex.EncodeToString(h.Sum(nil))
				gets.Store(0)
				got, err := e.rfs().Hash(e.ctx, name, c.algo, r[0], r[1], 0)
				if err != nil || got != want {
					t.Fatalf("%s %s [%d,%d): %q %v, want %q", name, c.algo, r[0], r[1], got, err, want)
				}
				whole := r[0] == 0 && end == size
				stored := whole && (c.algo == ftp.HashCRC32 || (c.algo == ftp.HashSHA256 && size < MinPartSize))
				if stored && gets.Load() != 0 {
					t.Errorf("%s %s whole file: %d GETs, want the stored value", name, c.algo, gets.Load())
				}
			}
		}
	}
	for _, c := range []struct {
		name, algo string
		start, end int64
		want       error
	}{
		{"/h1000", ftp.HashSHA256, 10, 5, fs.ErrInvalid},
		{"/h1000", ftp.HashSHA256, 0, 1001, fs.ErrInvalid},
		{"/h1000", "SHA-512", 0, -1, ftp.ErrNotSupported},
		{"/missing", ftp.HashMD5, 0, -1, fs.ErrNotExist},
	} {
		if _, err := e.rfs().Hash(e.ctx, c.name, c.algo, c.start, c.end, 0); !errors.Is(err, c.want) {
			t.Errorf("hash %s %s [%d,%d): %v, want %v", c.name, c.algo, c.start, c.end, err, c.want)
		}
	}
}

// MFMT sets the time Stat (MDTM, MLST) reports; content, Content-Type,
// metadata and checksum stay.
func TestSetModTime(t *testing.T) {
	e := newEnv(t, Options{Object: ObjectOptions{Metadata: map[string]string{"project": "x"}}})
	e.save("/doc.pdf", []byte("%PDF-1.7"))
	when := time.Date(2001, 2, 3, 4, 5, 6, 0, time.UTC)
	if err := e.rfs().SetModTime(e.ctx, "/doc.pdf", when); err != nil {
		t.Fatal(err)
	}
	fi, err := e.fs.Stat(e.ctx, "/doc.pdf")
	if err != nil || !fi.ModTime().Equal(when) || fi.Size() != 8 {
		t.Fatalf("stat after MFMT: %v %v, want mtime %v", fi, err, when)
	}
	h := e.head("doc.pdf")
	if ct := aws.ToString(h.ContentType); ct != "application/pdf" || h.Metadata["project"] != "x" || h.Metadata[metaSHA256] == "" {
		t.Fatalf("headers not kept: %q %v", ct, h.Metadata)
	}
	if sum, _ := e.rfs().Hash(e.ctx, "/doc.pdf", ftp.HashCRC32, 0, -1, 0); sum != fmt.Sprintf("%08x", crc32.ChecksumIEEE([]byte("%PDF-1.7"))) {
		t.Fatalf("crc after MFMT: %s", sum)
	}
	mustEqual(t, "content", e.read("/doc.pdf", 0), []byte("%PDF-1.7"))
	if err := e.fs.Mkdir(e.ctx, "/d"); err != nil {
		t.Fatal(err)
	}
	if err := e.rfs().SetModTime(e.ctx, "/d", when); !errors.Is(err, ftp.ErrNotSupported) {
		t.Fatalf("MFMT on a directory: %v", err)
	}
	if err := e.rfs().SetModTime(e.ctx, "/missing", when); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("MFMT on a missing file: %v", err)
	}
}

func (e *env) head(key string) *s3.HeadObjectOutput {
	e.t.Helper()
	h, err := e.client.HeadObject(e.ctx, &s3.HeadObjectInput{Bucket: aws.String(e.bucket), Key: aws.String(key)})
	if err != nil {
		e.t.Fatalf("head %s: %v", key, err)
	}
	return h
}

func (e *env) tags(key string) map[string]string {
	e.t.Helper()
	out, err := e.client.GetObjectTagging(e.ctx, &s3.GetObjectTaggingInput{Bucket: aws.String(e.bucket), Key: aws.String(key)})
	if err != nil {
		e.t.Fatalf("tags of %s: %v", key, err)
	}
	m := map[string]string{}
	for _, tg := range out.TagSet {
		m[aws.ToString(tg.Key)] = aws.ToString(tg.Value)
	}
	return m
}

// Object properties, global and per user, on every path that writes an
// object (PutObject, multipart, append, rename, MFMT), read back from the
// headers. versitygw accepts the ACL, SSE and storage-class headers but
// neither returns nor applies SSE or a storage class (see the README).
func TestObjectProperties(t *testing.T) {
	e := newEnv(t, Options{PartSize: MinPartSize, Object: ObjectOptions{
		ACL: "bucket-owner-full-control", StorageClass: "STANDARD",
		Tagging:  map[string]string{"team": "ftp", "env": "test"},
		Metadata: map[string]string{"uploaded-by": "{user}", "client-ip": "{client_ip}", "site": "hq"},
	}})
	fsys := e.store.UserFS(User{
		Home: "/jürgen", Name: "jürgen", Client: netip.MustParseAddr("::ffff:192.0.2.9"),
		Object: ObjectOptions{SSE: "AES256", Tagging: map[string]string{"env": "prod"}, Metadata: map[string]string{"site": "branch"}},
	}).(resumable)
	write := func(name string, size int64) {
		u, err := fsys.Create(e.ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		e.copyRange(u, 1, 0, size)
		if err := u.Commit(e.ctx); err != nil {
			t.Fatal(err)
		}
	}
	write("/small.csv", 100)
	write("/big.mp4", 11*mib)
	u, err := fsys.Resume(e.ctx, "/big.mp4", 11*mib)
	if err != nil {
		t.Fatal(err)
	}
	u.Write([]byte("more"))
	if err := u.Commit(e.ctx); err != nil {
		t.Fatal(err)
	}
	write("/up.pdf.filepart", 10)
	if err := fsys.Rename(e.ctx, "/up.pdf.filepart", "/up.pdf"); err != nil {
		t.Fatal(err)
	}
	if err := fsys.SetModTime(e.ctx, "/small.csv", time.Unix(1e9, 0)); err != nil {
		t.Fatal(err)
	}
	for key, ct := range map[string]string{
		"jürgen/small.csv": "text/csv; charset=utf-8", "jürgen/big.mp4": "video/mp4", "jürgen/up.pdf": "application/pdf",
	} {
		h := e.head(key)
		if got := aws.ToString(h.ContentType); got != ct {
			t.Errorf("%s: Content-Type %q, want %q", key, got, ct)
		}
		want := map[string]string{"uploaded-by": "=?utf-8?q?j=C3=BCrgen?=", "client-ip": "192.0.2.9", "site": "branch"}
		for k, v := range want {
			if h.Metadata[k] != v {
				t.Errorf("%s: metadata %s = %q, want %q (all: %v)", key, k, h.Metadata[k], v, h.Metadata)
			}
		}
		if tags := e.tags(key); tags["team"] != "ftp" || tags["env"] != "prod" {
			t.Errorf("%s: tags %v", key, tags)
		}
		if e.srv.name != "embedded" && e.srv.name != "versitygw" && h.ServerSideEncryption != types.ServerSideEncryptionAes256 {
			t.Errorf("%s: SSE %q", key, h.ServerSideEncryption)
		}
		t.Logf("%s on %s: sse=%q storage-class=%q", key, e.srv.name, h.ServerSideEncryption, h.StorageClass)
	}
}

// Temp-then-rename (FileZilla *.filepart, proftpd .in.*.): the upload gets
// the final name's type, and the rename is one server-side copy and one
// delete: no second upload, no 0-byte object, no duplicate.
func TestRenameTempUpload(t *testing.T) {
	for name, want := range map[string]string{
		"/a/x.pdf.filepart": "application/pdf", "/a/.in.x.pdf.": "application/pdf", "/x.PNG.tmp": "image/png",
		"/x.filepart": "", "/plain": "", "/x.json.part": "application/json",
	} {
		if got := contentTypeFor(name); got != want {
			t.Errorf("contentTypeFor(%q) = %q, want %q", name, got, want)
		}
	}
	e := newEnv(t, Options{})
	e.store.CheckConditional(e.ctx) // the probe's requests are not the rename's
	var copies, puts atomic.Int32
	c := *e.store
	c.client = s3.New(e.store.client.Options(), func(o *s3.Options) {
		o.APIOptions = append(o.APIOptions, countOp[*s3.CopyObjectInput](&copies), countOp[*s3.PutObjectInput](&puts))
	})
	e.store, e.fs = &c, c.FS("/")
	e.save("/report.pdf.filepart", []byte("%PDF"))
	if err := e.fs.Rename(e.ctx, "/report.pdf.filepart", "/report.pdf"); err != nil {
		t.Fatal(err)
	}
	if copies.Load() != 1 || puts.Load() != 1 {
		t.Fatalf("%d copies and %d puts, want 1 and 1", copies.Load(), puts.Load())
	}
	names, err := e.list("/")
	if err != nil || !slices.Equal(names, []string{"report.pdf"}) {
		t.Fatalf("listing after rename: %q %v", names, err)
	}
	if ct := aws.ToString(e.head("report.pdf").ContentType); ct != "application/pdf" {
		t.Fatalf("Content-Type %q", ct)
	}
}

// Names with spaces, %, quotes, unicode and keys of 1 000 bytes go through
// every operation unchanged.
func TestOddNames(t *testing.T) {
	e := newEnv(t, Options{ResumeWindow: time.Hour})
	// Path components stay under 256 bytes (versitygw keeps keys as paths).
	long := "/" + strings.Repeat("d", 200) + "/" + strings.Repeat("é", 100) + "/" + strings.Repeat("e", 200) + "/" +
		strings.Repeat("g", 200) + "/" + strings.Repeat("f", 192) + ".txt"
	if len(long)-1 != 1000 {
		t.Fatalf("long name has %d bytes", len(long)-1)
	}
	for _, name := range []string{
		"/with space.txt", "/100% done", `/quote"d 'name'`, "/ünïcödé/日本語.txt", "/plus+and&amp=eq?", "/a\\b", long,
	} {
		t.Run(name[:min(len(name), 20)], func(t *testing.T) {
			body := []byte("content of " + name)
			e.save(name, body)
			mustEqual(t, "read", e.read(name, 0), body)
			dir, base := name[:strings.LastIndex(name, "/")], name[strings.LastIndex(name, "/")+1:]
			if dir == "" {
				dir = "/"
			}
			names, err := e.list(dir)
			if err != nil || !slices.Contains(names, base) {
				t.Fatalf("list %s: %q %v, want %q", dir, names, err, base)
			}
			if fi, err := e.fs.Stat(e.ctx, name); err != nil || fi.Name() != base || fi.Size() != int64(len(body)) {
				t.Fatalf("stat: %v %v", fi, err)
			}
			u := e.open(name, 0)
			u.Write(body[:5])
			u.Abort(e.ctx)
			e.finishBytes(name, body, 5)
			renamed := name + " (2)"
			if name == long {
				renamed = name[:len(name)-4] + "2.txt"
			}
			if err := e.fs.Rename(e.ctx, name, renamed); err != nil {
				t.Fatal(err)
			}
			mustEqual(t, "renamed", e.read(renamed, 0), body)
			if err := e.fs.Remove(e.ctx, renamed); err != nil {
				t.Fatal(err)
			}
		})
	}
	e.mustBeClean()
}

// finishBytes resumes name's partial of size from and writes body[from:].
func (e *env) finishBytes(name string, body []byte, from int64) {
	e.t.Helper()
	if n, ok := e.partialSize(name); !ok || n != from {
		e.t.Fatalf("partial of %s: %d %v, want %d", name, n, ok, from)
	}
	u := e.open(name, from)
	u.Write(body[from:])
	if err := u.Commit(e.ctx); err != nil {
		e.t.Fatal(err)
	}
	mustEqual(e.t, "resumed "+name, e.read(name, 0), body)
}

// A directory rename whose copies fail part-way says so, deletes no
// source and removes the copies it made.
func TestRenameTreeFailure(t *testing.T) {
	e := newEnv(t, Options{})
	for i := range 20 {
		e.save(fmt.Sprintf("/src/f%02d", i), []byte{byte(i)})
	}
	var n atomic.Int32
	c := *e.store
	c.client = s3.New(e.store.client.Options(), func(o *s3.Options) {
		o.APIOptions = append(o.APIOptions, func(st *middleware.Stack) error {
			return st.Initialize.Add(middleware.InitializeMiddlewareFunc("failCopy",
				func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (
					middleware.InitializeOutput, middleware.Metadata, error) {
					if _, ok := in.Parameters.(*s3.CopyObjectInput); ok && n.Add(1) == 7 {
						return middleware.InitializeOutput{}, middleware.Metadata{}, errors.New("injected copy failure")
					}
					return next.HandleInitialize(ctx, in)
				}), middleware.After)
		})
	})
	err := c.FS("/").Rename(e.ctx, "/src", "/dst")
	var tre *TreeRenameError
	if !errors.As(err, &tre) || !tre.SourceIntact || tre.Copied >= 20 {
		t.Fatalf("rename: %v, want a TreeRenameError with the source intact", err)
	}
	if text := tre.ClientText(); !strings.Contains(text, "source is unchanged") || strings.Contains(text, "InternalError") {
		t.Fatalf("reply text %q", text)
	}
	names, err := e.list("/src")
	if err != nil || len(names) != 20 {
		t.Fatalf("source after the failed rename: %d entries, %v", len(names), err)
	}
	if _, err := e.fs.Stat(e.ctx, "/dst"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("copies left at the destination: %v", err)
	}
}
