package s3fs

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go/middleware"
)

// countCalls returns a copy of s whose client counts ListObjectsV2 calls.
func countCalls(s *Store, n *atomic.Int32) *Store {
	c := *s
	c.client = s3.New(s.client.Options(), func(o *s3.Options) {
		o.APIOptions = append(o.APIOptions, countOp[*s3.ListObjectsV2Input](n))
	})
	return &c
}

// countOp is an SDK option that counts the calls whose input is a T.
func countOp[T any](n *atomic.Int32) func(*middleware.Stack) error {
	return func(st *middleware.Stack) error {
		return st.Initialize.Add(middleware.InitializeMiddlewareFunc("count",
			func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (
				middleware.InitializeOutput, middleware.Metadata, error) {
				if _, ok := in.Parameters.(T); ok {
					n.Add(1)
				}
				return next.HandleInitialize(ctx, in)
			}), middleware.After)
	}
}

// A big directory streams: the first entry is handed over after the first
// page, and every entry arrives once, in order, across many pages.
func TestListStreamsPages(t *testing.T) {
	e := newEnv(t, Options{})
	const files, dirs = 2900, 100
	// The bulk is written straight into the embedded store's directory (the
	// posix backend serves files placed there; the working directory is its
	// root): 3 000 PUTs take ~10 s under the race detector. Every tenth
	// directory is a marker object written through S3.
	var want []string
	for i := range files {
		k := fmt.Sprintf("big/f%04d", i)
		writeBackendFile(t, e, k)
		want = append(want, k[len("big/"):])
	}
	for i := range dirs {
		if i%10 == 0 {
			e.put(fmt.Sprintf("big/d%03d/", i), "")
		} else {
			writeBackendFile(t, e, fmt.Sprintf("big/d%03d/child", i)) // implicit directory
		}
		want = append(want, fmt.Sprintf("d%03d/", i))
	}
	slices.Sort(want)

	var calls atomic.Int32
	s := countCalls(e.store, &calls)
	s.pageSize = 97
	var got []string
	var callsAtFirst int32
	err := s.FS("/").List(e.ctx, "/big", func(fi fs.FileInfo) error {
		if len(got) == 0 {
			callsAtFirst = calls.Load()
		}
		n := fi.Name()
		if fi.IsDir() {
			n += "/"
		}
		got = append(got, n)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("listing of %d entries differs from the %d expected", len(got), len(want))
	}
	pages := calls.Load()
	if callsAtFirst != 1 || pages < (files+dirs)/97 {
		t.Fatalf("first entry after %d requests, %d requests in all: not streamed page by page", callsAtFirst, pages)
	}
	t.Logf("%d entries in %d pages", len(got), pages)

	// Listing the parent must show "big" once.
	root, err := e.list("/")
	if err != nil || !slices.Equal(root, []string{"big/"}) {
		t.Fatalf("list /: %q %v", root, err)
	}
}

// writeBackendFile creates key in e's bucket directly on the posix
// backend's disk (embedded store or versitygw process).
func writeBackendFile(t *testing.T, e *env, key string) {
	t.Helper()
	p := filepath.Join(e.srv.root, e.bucket, filepath.FromSlash(key))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
}
