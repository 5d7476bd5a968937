// Package embeds3test shares one embedded S3 store among the tests of a test
// binary (versitygw allows one gateway per process) and hands each test its
// own bucket.
//
// Note: starting the store changes the process working directory into the
// store's temporary directory (see package embeds3). Tests that read files
// by relative path (testdata/…) must resolve them to absolute paths before
// Main starts the store, e.g. in TestMain before calling Main or in a
// package-level var initialised with filepath.Abs.
package embeds3test

import (
	"context"
	"fmt"
	"hash/fnv"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/s3ftpd/s3ftpd/internal/embeds3"
)

// Package state is unavoidable here: TestMain has no way to hand values to
// the tests, and versitygw allows only one store per process anyway.
var (
	store     *embeds3.Store
	transport *http.Transport // shared by every Client, closed before the store
	buckets   atomic.Uint64
)

// Main runs a test binary's tests with one shared embedded store
// (versitygw allows one per process) and removes its temp dir afterwards.
// Use: func TestMain(m *testing.M) { embeds3test.Main(m) }
func Main(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	dir, err := os.MkdirTemp("", "embeds3test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "embeds3test:", err)
		return 1
	}
	defer os.RemoveAll(dir)

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	// Only warnings: test output should show the tests, not the store.
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	transport = http.DefaultTransport.(*http.Transport).Clone()
	transport.Proxy = nil // loopback only
	store, err = embeds3.Start(ctx, embeds3.Options{Dir: dir, Logger: log})
	if err != nil {
		fmt.Fprintln(os.Stderr, "embeds3test: start store:", err)
		return 1
	}
	code := m.Run()
	// The gateway waits (up to 10 s) for open keep-alive connections.
	transport.CloseIdleConnections()
	if err := store.Close(); err != nil {
		fmt.Fprintln(os.Stderr, "embeds3test: close store:", err)
	}
	return code
}

// Store returns the shared store (nil outside Main).
func Store() *embeds3.Store { return store }

// Client returns a plain SDK client for the shared store (path style,
// static root credentials, SDK defaults otherwise). Its connections are
// closed by Main before the store stops.
func Client(t testing.TB) *s3.Client {
	t.Helper()
	if store == nil {
		t.Fatal("embeds3test: no store; call embeds3test.Main from TestMain")
	}
	return s3.New(s3.Options{
		Region:       embeds3.Region,
		BaseEndpoint: aws.String(store.Endpoint()),
		UsePathStyle: true,
		Credentials:  credentials.NewStaticCredentialsProvider(store.AccessKey(), store.SecretKey(), ""),
		HTTPClient:   &http.Client{Transport: transport},
	})
}

// NewBucket creates a fresh bucket (unique name per test) and returns a
// configured client and its name.
func NewBucket(t testing.TB) (*s3.Client, string) {
	t.Helper()
	c := Client(t)
	name := bucketName(t.Name(), buckets.Add(1))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(name)}); err != nil {
		t.Fatalf("embeds3test: create bucket %s: %v", name, err)
	}
	return c, name
}

// bucketName derives a valid, unique bucket name (3–63 of [a-z0-9-]) from a
// test name and a sequence number.
func bucketName(test string, n uint64) string {
	h := fnv.New32a()
	h.Write([]byte(test))
	var b strings.Builder
	for _, r := range strings.ToLower(test) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			b.WriteRune(r)
		default:
			b.WriteByte('-')
		}
		if b.Len() >= 30 {
			break
		}
	}
	name := fmt.Sprintf("t%d-%08x", n, h.Sum32())
	if slug := strings.Trim(b.String(), "-"); slug != "" {
		name += "-" + slug
	}
	return name
}
