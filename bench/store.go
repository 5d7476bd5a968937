package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/s3ftpd/s3ftpd/internal/s3fs"
)

// s3store is the one S3-compatible server of a run: every client (s3ftpd,
// the direct SDK baseline, the peers) talks to it.
type s3store struct {
	kind     string // shown in the report
	endpoint string // http://127.0.0.1:PORT
	access   string
	secret   string
	bucket   string
	// root is the posix directory of the bucket (objects are files below
	// it), used to create the listing's objects quickly.
	root string
	// proc is the versitygw process; nil for the store embedded in s3ftpd
	// (it then runs only while s3ftpd runs).
	proc     *proc
	embedded bool
	listen   string // host:port, for the embedded store's config
	client   *s3.Client
}

// embeddedBucket is the bucket s3ftpd's embedded store creates
// (internal/embeds3.DefaultBucket; not imported, to keep versitygw out of
// the harness binary). connectEmbedded checks it exists.
const embeddedBucket = "s3ftpd"

// benchBucket is the bucket created in a separate versitygw.
const benchBucket = "bench"

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// freePort returns a free TCP port on 127.0.0.1.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// startVersityGW runs versitygw's posix backend on dir as a separate
// process on a loopback port and creates the benchmark bucket.
func (h *harness) startVersityGW(ctx context.Context, bin, dir string) (*s3store, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	st := &s3store{
		kind:     "versitygw posix (separate process)",
		endpoint: fmt.Sprintf("http://127.0.0.1:%d", port),
		access:   "bench" + randomHex(4),
		secret:   randomHex(16),
		bucket:   benchBucket,
		root:     filepath.Join(dir, benchBucket),
	}
	args := []string{"--port", fmt.Sprintf("127.0.0.1:%d", port),
		"--access", st.access, "--secret", st.secret, "--keep-alive", "--quiet"}
	if h.opt.storeLog {
		args = append(args, "--access-log", filepath.Join(h.work, "versitygw-access.log"))
	}
	args = append(args, "posix")
	if !strings.HasPrefix(dir, "/dev/shm/") {
		// On disk (ext4) a file's xattrs hold ~4 KiB, too little for the
		// part offsets of a large multipart object (a 10 GiB upload failed
		// to complete): metadata in a sidecar directory (beside the root:
		// versitygw refuses one whose path starts with the root's), and the
		// objects of the listing are made with PutObject, not as files with
		// xattrs. (versitygw's sidecar keeps an object's old user metadata
		// when it is overwritten; the harness writes every key once.)
		meta := filepath.Join(filepath.Dir(dir), "meta-"+filepath.Base(dir))
		if err := os.MkdirAll(meta, 0o755); err != nil {
			return nil, err
		}
		args = append(args, "--sidecar", meta)
		st.root = ""
		st.kind += ", metadata in a sidecar directory"
	}
	p, err := h.procs.start("versitygw", nil, bin, append(args, dir)...)
	if err != nil {
		return nil, err
	}
	st.proc = p
	if st.client, err = s3fs.NewClient(ctx, s3fs.ClientOptions{
		Region: "us-east-1", Endpoint: st.endpoint, PathStyle: true, AccessKey: st.access, SecretKey: st.secret,
	}); err != nil {
		return nil, err
	}
	if err := waitS3(ctx, st, p); err != nil {
		return nil, err
	}
	_, err = st.client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(st.bucket)})
	if err != nil {
		return nil, fmt.Errorf("create bucket: %w", err)
	}
	return st, nil
}

// embeddedStore describes the store that s3ftpd will run in-process; it
// is usable once s3ftpd has started (connectEmbedded).
func embeddedStore(dir string) (*s3store, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	return &s3store{
		kind:     "versitygw embedded in s3ftpd (in-process)",
		embedded: true,
		listen:   fmt.Sprintf("127.0.0.1:%d", port),
		endpoint: fmt.Sprintf("http://127.0.0.1:%d", port),
		access:   "bench" + randomHex(4),
		secret:   randomHex(16),
		bucket:   embeddedBucket,
		// internal/embeds3 layout: Dir/buckets/<bucket>/<key>.
		root: filepath.Join(dir, "buckets", embeddedBucket),
	}, nil
}

// connectEmbedded makes the client for the embedded store once s3ftpd
// (pid p) serves it.
func (st *s3store) connectEmbedded(ctx context.Context, p *proc) error {
	if st.client == nil {
		c, err := s3fs.NewClient(ctx, s3fs.ClientOptions{
			Region: "us-east-1", Endpoint: st.endpoint, PathStyle: true, AccessKey: st.access, SecretKey: st.secret,
		})
		if err != nil {
			return err
		}
		st.client = c
	}
	if err := waitS3(ctx, st, p); err != nil {
		return err
	}
	if _, err := st.client.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String(st.bucket)}); err != nil {
		return fmt.Errorf("embedded store has no bucket %q: %w", st.bucket, err)
	}
	return nil
}

// waitS3 waits until the store answers ListBuckets (at most 60 s), or p
// exits.
func waitS3(ctx context.Context, st *s3store, p *proc) error {
	deadline := time.Now().Add(60 * time.Second)
	var last error
	for time.Now().Before(deadline) {
		if !p.running() {
			return fmt.Errorf("%s exited: %v\n%s", p.name, p.waitErr, p.tail(15))
		}
		cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		_, last = st.client.ListBuckets(cctx, &s3.ListBucketsInput{})
		cancel()
		if last == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	return fmt.Errorf("S3 endpoint %s not answering after 60 s: %v", st.endpoint, last)
}

func (st *s3store) deleteKey(ctx context.Context, key string) {
	_, _ = st.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(st.bucket), Key: aws.String(key)})
}
