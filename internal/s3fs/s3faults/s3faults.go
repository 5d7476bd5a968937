// Package s3faults is an S3 fault-injection proxy for tests: a reverse
// proxy (net/http/httputil) in front of a real S3-compatible store that,
// per request and by S3 operation, answers 503 SlowDown or 500
// InternalError, resets the connection in the middle of a body, stalls
// (headers or body never finish) or adds latency. Everything else is
// passed through unchanged, so SigV4 signatures stay valid (the Host header
// is the proxy's, as the client signed it).
package s3faults

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Kind is what a Rule does to a request.
type Kind string

const (
	// SlowDown answers 503 with the S3 error code SlowDown.
	SlowDown Kind = "503 SlowDown"
	// InternalError answers 500 with the S3 error code InternalError.
	InternalError Kind = "500 InternalError"
	// Reset resets the TCP connection (RST) in the middle of the body: the
	// request body for requests that send one (half of it is read), the
	// response body otherwise (half of it is sent); before any answer
	// when neither has one.
	Reset Kind = "reset mid-body"
	// Cut is Reset with an orderly close (FIN) instead of a reset, as a
	// proxy or a store that gives up on a connection does: the client
	// sees the body end early.
	Cut Kind = "cut mid-body (FIN)"
	// StallHeaders reads the request and never answers.
	StallHeaders Kind = "stall (no response)"
	// StallBody stops in the middle of the body, as Reset, but holds the
	// connection open instead of resetting it.
	StallBody Kind = "stall mid-body"
	// LoseResponse passes the request on to the store, which carries it
	// out, and resets the connection instead of answering: the client
	// cannot tell whether it happened.
	LoseResponse Kind = "response lost"
	// Latency waits Rule.Delay, then passes the request on.
	Latency Kind = "latency"
	// Error answers Rule.Status with the S3 error code Rule.Code.
	Error Kind = "error"
	// Trickle passes the body (the request's if it has one, else the
	// response's) on in 64 KiB pieces, one per Rule.Delay: slow, but
	// always moving.
	Trickle Kind = "trickle"
)

// Rule injects one fault.
type Rule struct {
	// Op is the S3 operation (see Operation), "" for any.
	Op   string
	Kind Kind
	// Times is how many matching requests the rule hits; 0 means all.
	Times int
	// Delay is Latency's wait.
	Delay time.Duration
	// Status and Code are Error's answer, e.g. 403 "AccessDenied".
	Status int
	Code   string
}

// Proxy is a running fault-injection proxy.
type Proxy struct {
	// URL is the endpoint to give S3 clients instead of the store's.
	URL string

	srv     *http.Server
	ln      net.Listener
	rp      *httputil.ReverseProxy
	tr      *http.Transport
	release chan struct{} // closed by Close: stalled requests end

	mu    sync.Mutex
	rules []*ruleState
	hits  map[string]int // injected faults by "Op Kind"
	seen  map[string]int // requests by operation
}

type ruleState struct {
	Rule
	hits int
}

type connKey struct{}

// rcvBuf is the receive buffer of the proxy's client connections.
const rcvBuf = 128 << 10

// Start runs a proxy for the store at target (http://host:port) on a free
// loopback port. Close it when done.
func Start(target string) (*Proxy, error) {
	u, err := url.Parse(target)
	if err != nil {
		return nil, err
	}
	// A small receive buffer on the proxy's side, as a slow link has:
	// loopback would otherwise let the kernel absorb megabytes of a
	// trickled request body at once.
	lc := net.ListenConfig{Control: func(network, address string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, rcvBuf)
		})
		return errors.Join(err, serr)
	}}
	ln, err := lc.Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.Proxy = nil // loopback only
	p := &Proxy{
		URL: "http://" + ln.Addr().String(), ln: ln, tr: tr, release: make(chan struct{}),
		hits: map[string]int{}, seen: map[string]int{},
	}
	p.rp = httputil.NewSingleHostReverseProxy(u)
	p.rp.Transport = tr
	p.rp.FlushInterval = -1             // every write reaches the client at once
	quiet := log.New(io.Discard, "", 0) // cut bodies are the point, not news
	p.rp.ErrorLog = quiet
	p.srv = &http.Server{
		Handler:  p,
		ErrorLog: quiet,
		ConnContext: func(ctx context.Context, c net.Conn) context.Context {
			return context.WithValue(ctx, connKey{}, c)
		},
	}
	go p.srv.Serve(ln)
	return p, nil
}

// Close ends stalled requests and stops the proxy.
func (p *Proxy) Close() {
	p.mu.Lock()
	select {
	case <-p.release:
	default:
		close(p.release)
	}
	p.mu.Unlock()
	p.srv.Close()
	p.tr.CloseIdleConnections()
}

// Set replaces the rules (none: pass everything through).
func (p *Proxy) Set(rules ...Rule) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.rules = p.rules[:0]
	for _, r := range rules {
		p.rules = append(p.rules, &ruleState{Rule: r})
	}
}

// Injected returns how many requests of operation op got fault k since the
// start ("" op: any).
func (p *Proxy) Injected(op string, k Kind) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if op != "" {
		return p.hits[op+" "+string(k)]
	}
	n := 0
	for key, v := range p.hits {
		if strings.HasSuffix(key, " "+string(k)) {
			n += v
		}
	}
	return n
}

// Requests returns how many requests of operation op passed the proxy.
func (p *Proxy) Requests(op string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.seen[op]
}

// match picks the rule for a request of op, counting the hit.
func (p *Proxy) match(op string) *Rule {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.seen[op]++
	for _, r := range p.rules {
		if (r.Op == "" || r.Op == op) && (r.Times == 0 || r.hits < r.Times) {
			r.hits++
			p.hits[op+" "+string(r.Kind)]++
			rule := r.Rule
			return &rule
		}
	}
	return nil
}

func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rule := p.match(Operation(r))
	if rule == nil {
		p.rp.ServeHTTP(w, r)
		return
	}
	conn, _ := r.Context().Value(connKey{}).(net.Conn)
	switch rule.Kind {
	case SlowDown:
		p.answer(w, r, http.StatusServiceUnavailable, "SlowDown", "Please reduce your request rate.")
	case InternalError:
		p.answer(w, r, http.StatusInternalServerError, "InternalError", "We encountered an internal error. Please try again.")
	case Error:
		p.answer(w, r, rule.Status, rule.Code, "Injected by s3faults.")
	case Latency:
		select {
		case <-time.After(rule.Delay):
		case <-r.Context().Done():
			return
		case <-p.release:
			return
		}
		p.rp.ServeHTTP(w, r)
	case StallHeaders:
		io.Copy(io.Discard, r.Body)
		p.hold(r)
	case Reset, Cut, StallBody:
		p.midBody(w, r, conn, rule.Kind)
	case Trickle:
		p.trickle(w, r, rule.Delay)
	case LoseResponse:
		rp := *p.rp
		rp.ModifyResponse = func(*http.Response) error { return errLost }
		rp.ErrorHandler = func(http.ResponseWriter, *http.Request, error) { reset(conn) }
		rp.ServeHTTP(w, r)
	default:
		panic(fmt.Sprintf("s3faults: unknown kind %q", rule.Kind))
	}
}

// answer sends an S3 error document.
func (p *Proxy) answer(w http.ResponseWriter, r *http.Request, status int, code, msg string) {
	io.Copy(io.Discard, r.Body)
	w.Header().Set("Content-Type", "application/xml")
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?>`+
			"\n<Error><Code>%s</Code><Message>%s</Message><RequestId>s3faults</RequestId></Error>", code, msg)
	}
}

// hold blocks until the client goes or the proxy closes.
func (p *Proxy) hold(r *http.Request) {
	select {
	case <-r.Context().Done():
	case <-p.release:
	}
}

// midBody cuts (Reset) or holds (StallBody) a request in the middle of its
// request body, or else in the middle of its response body.
func (p *Proxy) midBody(w http.ResponseWriter, r *http.Request, conn net.Conn, k Kind) {
	cut := func() {
		switch k {
		case StallBody:
			p.hold(r)
		case Cut:
			conn.Close()
		default:
			reset(conn)
		}
	}
	if r.ContentLength > 0 {
		io.CopyN(io.Discard, r.Body, r.ContentLength/2)
		cut()
		return
	}
	if r.Method == http.MethodHead {
		cut()
		return
	}
	// Pass the request on; the response body stops halfway.
	rp := *p.rp
	rp.ModifyResponse = func(resp *http.Response) error {
		half := resp.ContentLength / 2
		if half <= 0 {
			half = 1
		}
		resp.Body = &cutReader{rc: resp.Body, left: half, cut: cut}
		return nil
	}
	rp.ServeHTTP(w, r)
}

// trickle passes the request on with its body slowed down.
func (p *Proxy) trickle(w http.ResponseWriter, r *http.Request, every time.Duration) {
	if r.ContentLength > 0 {
		r.Body = &slowReader{rc: r.Body, every: every, stop: p.release}
		p.rp.ServeHTTP(w, r)
		return
	}
	rp := *p.rp
	rp.ModifyResponse = func(resp *http.Response) error {
		resp.Body = &slowReader{rc: resp.Body, every: every, stop: p.release}
		return nil
	}
	rp.ServeHTTP(w, r)
}

// slowReader reads at most 64 KiB per call, each after a pause.
type slowReader struct {
	rc    io.ReadCloser
	every time.Duration
	stop  <-chan struct{}
}

func (s *slowReader) Read(b []byte) (int, error) {
	select {
	case <-time.After(s.every):
	case <-s.stop:
		return 0, io.ErrUnexpectedEOF
	}
	n, err := io.ReadFull(s.rc, b[:min(len(b), 64<<10)])
	if err == io.ErrUnexpectedEOF {
		err = io.EOF
	}
	return n, err
}

func (s *slowReader) Close() error { return s.rc.Close() }

var errLost = fmt.Errorf("s3faults: response dropped")

// reset closes conn with a TCP RST.
func reset(conn net.Conn) {
	if tc, ok := conn.(*net.TCPConn); ok {
		tc.SetLinger(0)
	}
	conn.Close()
}

// cutReader passes left bytes on, then calls cut (once) and fails.
type cutReader struct {
	rc   io.ReadCloser
	left int64
	cut  func()
	once sync.Once
}

func (c *cutReader) Read(b []byte) (int, error) {
	if c.left <= 0 {
		c.once.Do(c.cut)
		return 0, io.ErrUnexpectedEOF
	}
	if int64(len(b)) > c.left {
		b = b[:c.left]
	}
	n, err := c.rc.Read(b)
	c.left -= int64(n)
	return n, err
}

func (c *cutReader) Close() error { return c.rc.Close() }

// Operation names the S3 operation of a path-style request from its
// method, query and headers, as the SDK's operation names.
func Operation(r *http.Request) string {
	q := r.URL.Query()
	has := func(k string) bool { _, ok := q[k]; return ok }
	path := strings.TrimPrefix(r.URL.Path, "/")
	bucketOnly := !strings.Contains(strings.TrimSuffix(path, "/"), "/")
	copySrc := r.Header.Get("X-Amz-Copy-Source") != ""
	switch r.Method {
	case http.MethodGet:
		switch {
		case has("uploadId"):
			return "ListParts"
		case has("uploads"):
			return "ListMultipartUploads"
		case has("acl"):
			return "GetObjectAcl"
		case has("tagging"):
			return "GetObjectTagging"
		case bucketOnly && path == "":
			return "ListBuckets"
		case bucketOnly && has("list-type"):
			return "ListObjectsV2"
		case bucketOnly:
			return "ListObjects"
		}
		return "GetObject"
	case http.MethodHead:
		if bucketOnly {
			return "HeadBucket"
		}
		return "HeadObject"
	case http.MethodPut:
		switch {
		case has("partNumber") && copySrc:
			return "UploadPartCopy"
		case has("partNumber"):
			return "UploadPart"
		case copySrc:
			return "CopyObject"
		case has("tagging"):
			return "PutObjectTagging"
		case bucketOnly:
			return "CreateBucket"
		}
		return "PutObject"
	case http.MethodPost:
		switch {
		case has("uploads"):
			return "CreateMultipartUpload"
		case has("uploadId"):
			return "CompleteMultipartUpload"
		case has("delete"):
			return "DeleteObjects"
		}
	case http.MethodDelete:
		if has("uploadId") {
			return "AbortMultipartUpload"
		}
		return "DeleteObject"
	}
	return r.Method
}
