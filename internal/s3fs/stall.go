package s3fs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
)

// Stall deadline. A store that stops answering (a stopped process, a dead
// load balancer target, a full network path) must turn into an error, not
// a session that waits forever; but a 10 GiB GET or a 5 GiB part PUT that
// keeps moving bytes must not be cut by a fixed timeout. So each HTTP
// request to S3 is watched for *progress*: the request is cancelled when,
// for StallTimeout, no byte of its request body was taken by the
// connection or left the socket's send queue (the kernel buffers up to
// megabytes of a body; where the queue cannot be read, see sendq_*.go,
// only the first counts), no response header arrived and no byte of the
// response body arrived while the caller was reading it. Waiting for the response headers after the body is sent counts
// as no progress, so a server that takes longer than StallTimeout before
// answering (a very large server-side copy on a store that sends no early
// headers) needs a larger value.
//
// A stalled request is not retried by the SDK (see noStallRetry): with
// the SDK's three attempts a stopped store would hold the FTP command for
// three times the stall timeout; one stall is reported at once (451/426)
// and the client decides. 5xx answers, throttling and connection resets
// are still retried by the SDK as before.

// DefaultStallTimeout is the stall deadline of a client made by NewClient
// when ClientOptions.StallTimeout is zero.
const DefaultStallTimeout = 60 * time.Second

// StallError is what a request that made no progress for its stall
// timeout fails with. It is a timeout (net.Error style), never retried.
type StallError struct{ After time.Duration }

func (e *StallError) Error() string {
	return fmt.Sprintf("s3: no progress for %v (store not answering)", e.After)
}

// Timeout reports true: the request timed out.
func (e *StallError) Timeout() bool { return true }

// isStall reports whether err is (or wraps) a StallError.
func isStall(err error) bool {
	var se *StallError
	return errors.As(err, &se)
}

// stallTransport wraps an http.RoundTripper with the stall deadline.
type stallTransport struct {
	next    http.RoundTripper
	timeout time.Duration
}

// CloseIdleConnections forwards to the wrapped transport (see
// CloseIdleConnections in client.go).
func (t *stallTransport) CloseIdleConnections() {
	if ci, ok := t.next.(interface{ CloseIdleConnections() }); ok {
		ci.CloseIdleConnections()
	}
}

func (t *stallTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	w := newWatch(req.Context(), t.timeout)
	trace := &httptrace.ClientTrace{GotConn: func(i httptrace.GotConnInfo) { w.setConn(i.Conn) }}
	r2 := req.WithContext(httptrace.WithClientTrace(w.ctx, trace))
	if req.Body != nil && req.Body != http.NoBody {
		r2.Body = &watchedReader{rc: req.Body, w: w}
	}
	resp, err := t.next.RoundTrip(r2)
	if err != nil {
		w.stop()
		return nil, w.err(err)
	}
	w.touch() // the headers arrived
	w.answered.Store(true)
	resp.Body = &watchedReader{rc: resp.Body, w: w, closeStops: true, counts: &w.reading}
	return resp, nil
}

// watch cancels a request's context once nothing moved for timeout.
type watch struct {
	ctx     context.Context
	cancel  context.CancelCauseFunc
	timeout time.Duration
	start   time.Time
	moved   atomic.Int64 // when something last moved, as time since start
	// Once the answer came, only time spent inside a Read of its body is
	// the store's: a caller that reads slowly (an FTP client that pauses)
	// is not a stalled store (the transfer's own stall timer is for that).
	answered atomic.Bool
	reading  atomic.Int32 // Reads of the response body in progress

	mu     sync.Mutex
	timer  *time.Timer
	conn   net.Conn // the request's connection, once known
	queued int      // its send queue at the last check; -1 unknown
}

// checksPerTimeout is how often a watch looks at the send queue.
const checksPerTimeout = 4

func newWatch(parent context.Context, timeout time.Duration) *watch {
	ctx, cancel := context.WithCancelCause(parent)
	w := &watch{ctx: ctx, cancel: cancel, timeout: timeout, start: time.Now(), queued: -1}
	w.mu.Lock()
	w.timer = time.AfterFunc(timeout/checksPerTimeout, w.check)
	w.mu.Unlock()
	return w
}

func (w *watch) touch() { w.moved.Store(int64(time.Since(w.start))) }

func (w *watch) setConn(c net.Conn) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.conn, w.queued = c, -1
}

// check runs a few times per timeout: bytes that left the send queue
// since the last check are progress; when nothing moved for the whole
// timeout, the request is cancelled.
func (w *watch) check() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.timer == nil {
		return
	}
	if w.answered.Load() && w.reading.Load() == 0 {
		w.touch() // nobody waits for the store
	}
	if q, ok := sendQueue(w.conn); ok {
		if w.queued >= 0 && q < w.queued {
			w.touch()
		}
		w.queued = q
	}
	idle := time.Since(w.start) - time.Duration(w.moved.Load())
	if idle >= w.timeout {
		w.cancel(&StallError{After: w.timeout})
		return
	}
	w.timer.Reset(min(w.timeout/checksPerTimeout, w.timeout-idle))
}

// stop ends the watch and releases the request's context.
func (w *watch) stop() {
	w.mu.Lock()
	if w.timer != nil {
		w.timer.Stop()
		w.timer = nil
	}
	w.mu.Unlock()
	w.cancel(context.Canceled)
}

// err replaces the error a cancelled request failed with by the stall
// that cancelled it.
func (w *watch) err(err error) error {
	if cause := context.Cause(w.ctx); err != nil && isStall(cause) {
		return fmt.Errorf("%w (%v)", cause, err)
	}
	return err
}

// watchedReader counts a body's reads as progress. A response body ends
// the watch when it is closed.
type watchedReader struct {
	rc         io.ReadCloser
	w          *watch
	closeStops bool
	counts     *atomic.Int32 // Reads in progress, when counted
}

func (r *watchedReader) Read(p []byte) (int, error) {
	if r.counts != nil {
		r.counts.Add(1)
		defer r.counts.Add(-1)
	}
	n, err := r.rc.Read(p)
	if n > 0 {
		r.w.touch()
	}

	if err != nil && err != io.EOF {
		err = r.w.err(err)
	}
	return n, err
}

func (r *watchedReader) Close() error {
	err := r.rc.Close()
	if r.closeStops {
		r.w.stop()
	}
	return err
}

// noStallRetry is the SDK's retryer, except that a stalled request is not
// retried (see the comment at the top).
type noStallRetry struct{ aws.RetryerV2 }

func (r noStallRetry) IsErrorRetryable(err error) bool {
	return !isStall(err) && r.RetryerV2.IsErrorRetryable(err)
}

// withoutStallRetry wraps r as noStallRetry when it can.
func withoutStallRetry(r aws.Retryer) aws.Retryer {
	if v2, ok := r.(aws.RetryerV2); ok {
		return noStallRetry{v2}
	}
	return r
}
