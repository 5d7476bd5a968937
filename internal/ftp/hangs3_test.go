package ftp_test

import (
	"errors"
	"io"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/s3ftpd/s3ftpd/internal/embeds3"
	"github.com/s3ftpd/s3ftpd/internal/embeds3/embeds3test"
	"github.com/s3ftpd/s3ftpd/internal/ftp"
	"github.com/s3ftpd/s3ftpd/internal/s3fs"
)

// freezer is a TCP relay in front of the embedded S3 store. While frozen it
// holds every byte in both directions, as a SIGSTOPped store does: requests
// in flight and new ones get no answer until it thaws or closes.
type freezer struct {
	ln     net.Listener
	target string
	bucket string // set by frozenS3

	mu     sync.Mutex
	cond   *sync.Cond
	frozen bool
	closed bool
	conns  []net.Conn
}

func startFreezer(t *testing.T, target string) *freezer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &freezer{ln: ln, target: target}
	f.cond = sync.NewCond(&f.mu)
	go f.accept()
	t.Cleanup(f.close)
	return f
}

func (f *freezer) accept() {
	for {
		c, err := f.ln.Accept()
		if err != nil {
			return
		}
		up, err := net.Dial("tcp", f.target)
		if err != nil {
			c.Close()
			continue
		}
		f.mu.Lock()
		f.conns = append(f.conns, c, up)
		f.mu.Unlock()
		go f.pipe(up, c)
		go f.pipe(c, up)
	}
}

// pipe copies src to dst, holding each chunk while frozen.
func (f *freezer) pipe(dst, src net.Conn) {
	defer dst.Close()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		f.mu.Lock()
		for f.frozen && !f.closed {
			f.cond.Wait()
		}
		closed := f.closed
		f.mu.Unlock()
		if closed {
			return
		}
		if n > 0 {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

func (f *freezer) freeze(on bool) {
	f.mu.Lock()
	f.frozen = on
	f.cond.Broadcast()
	f.mu.Unlock()
}

func (f *freezer) close() {
	f.ln.Close()
	f.mu.Lock()
	f.closed = true
	f.cond.Broadcast()
	for _, c := range f.conns {
		c.Close()
	}
	f.mu.Unlock()
}

// frozenS3 is s3fs on the embedded store, reached through a freezer.
func frozenS3(t *testing.T, o s3fs.Options) (ftp.FS, *freezer) {
	t.Helper()
	_, bucket := embeds3test.NewBucket(t)
	st := embeds3test.Store()
	f := startFreezer(t, st.Endpoint()[len("http://"):])
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.Proxy = nil
	t.Cleanup(tr.CloseIdleConnections)
	client := s3.New(s3.Options{
		Region:       embeds3.Region,
		BaseEndpoint: aws.String("http://" + f.ln.Addr().String()),
		UsePathStyle: true,
		Credentials:  credentials.NewStaticCredentialsProvider(st.AccessKey(), st.SecretKey(), ""),
		HTTPClient:   &http.Client{Transport: tr},
	})
	o.Bucket = bucket
	f.bucket = bucket
	store, err := s3fs.New(client, o)
	if err != nil {
		t.Fatal(err)
	}
	return store.FS("/"), f
}

// drainData reads d until nothing arrives for quiet (bounded by limit).
func drainData(t *testing.T, d net.Conn, quiet, limit time.Duration) int64 {
	t.Helper()
	var n int64
	buf := make([]byte, 64<<10)
	end := time.Now().Add(limit)
	for time.Now().Before(end) {
		d.SetReadDeadline(time.Now().Add(quiet))
		m, err := d.Read(buf)
		n += int64(m)
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return n
		}
		if err == io.EOF {
			t.Fatalf("download ended after %d bytes; the store should be frozen", n)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	t.Fatalf("bytes kept arriving for %v while the store was frozen", limit)
	return n
}
