package wire

import (
	"errors"
	"net"
	"time"
)

// CtrlReader is the control stream beneath the session's line reader.
// While a command runs, it keeps one read pending on the connection, as
// net/http's connReader does while a handler runs: a client that closes its
// control connection is then noticed at once and gone is called, which
// cancels the session's context and so ends the storage call the command
// is blocked in. A byte that arrives instead (a pipelined command) is kept
// for the next Read.
//
// Read, Watch and Unwatch are called by the command goroutine only; the
// background read hands its result over by closing bg.
type CtrlReader struct {
	conn net.Conn // the control stream (TLS after AUTH TLS)
	gone func(error)

	bg  chan struct{} // non-nil while a background read runs
	b   [1]byte
	has bool  // b holds a byte read in the background
	err error // the background read found the client gone
}

// NewCtrlReader reads conn; gone is called (from another goroutine) when
// a watching read finds the connection closed or broken.
func NewCtrlReader(conn net.Conn, gone func(error)) *CtrlReader {
	return &CtrlReader{conn: conn, gone: gone}
}

var errPendingRead = errors.New("ftp: control read while watching")

func (r *CtrlReader) Read(p []byte) (int, error) {
	switch {
	case r.bg != nil:
		return 0, errPendingRead
	case len(p) == 0:
		return 0, nil
	case r.has:
		p[0], r.has = r.b[0], false
		return 1, nil
	case r.err != nil:
		return 0, r.err
	}
	return r.conn.Read(p)
}

// Watch starts the background read, unless one runs or its result has not
// been consumed yet. The read has no deadline: a command in progress is not
// idle.
func (r *CtrlReader) Watch() {
	if r.bg != nil || r.has || r.err != nil {
		return
	}
	_ = r.conn.SetReadDeadline(time.Time{})
	bg := make(chan struct{})
	r.bg = bg
	go func() {
		defer close(bg)
		n, err := r.conn.Read(r.b[:])
		r.has = n == 1
		var ne net.Error
		if err != nil && !(errors.As(err, &ne) && ne.Timeout()) {
			r.err = err
			r.gone(err)
		}
	}()
}

// Unwatch ends the background read by moving the read deadline into the
// past, and waits for it. The session sets its own deadline before it
// reads again.
func (r *CtrlReader) Unwatch() {
	if r.bg == nil {
		return
	}
	_ = r.conn.SetReadDeadline(time.Unix(1, 0))
	<-r.bg
	r.bg = nil
}
