// Package wire is the byte level of the FTP control connection: reading
// command lines (RFC 959 §4.1, Telnet bytes of RFC 854 removed) and parsing
// the arguments of the commands that take more than a path. It is apart
// from package ftp, and uses only the standard library, so that its fuzz
// targets build and run in seconds.
package wire

import (
	"bufio"
	"bytes"
	"errors"
)

// MaxLine bounds a command line: a 1 000-byte S3 key plus verb and slack.
const MaxLine = 8192

// ErrLineTooLong: a line longer than the limit was consumed (500).
var ErrLineTooLong = errors.New("command line too long")

// Telnet bytes (RFC 854) that clients mix into the control stream; ABOR is
// often preceded by IAC IP IAC DM (RFC 959 §4.1.3).
const (
	telnetIAC  = 255
	telnetWILL = 251
	telnetDONT = 254
	telnetDM   = 242 // Data Mark: ends the Synch
)

// LineReader reads CRLF (or bare LF) terminated command lines. A line cut
// short by a read deadline (the session wakes up to look at the idle and
// drain timers) is kept and continued by the next read.
type LineReader struct {
	r       *bufio.Reader
	buf     []byte
	tooLong bool
	// skipLF: the last line was taken at its CR; a LF that follows
	// belongs to it.
	skipLF bool
}

// NewLineReader reads lines from r.
func NewLineReader(r *bufio.Reader) *LineReader { return &LineReader{r: r} }

// Read returns the next line without its end and with Telnet command
// sequences removed. A line longer than max is consumed and reported as
// ErrLineTooLong; the session goes on.
//
// A line that ends in CR with nothing after it yet is whole: clients that
// send a command as urgent data (RFC 959 §4.1.3 for ABOR; python's
// ftplib.abort() sends "ABOR\r\n" with MSG_OOB) lose the urgent last byte,
// the LF, when a load balancer such as HAProxy relays the stream without
// SO_OOBINLINE, and would wait for an answer forever. The LF, if it comes
// after all, is dropped. A CR not followed by LF is no Telnet end of line
// (RFC 854 allows CR only before LF or NUL) and no valid name holds one
// (553), so nothing a correct client sends is split by this.
func (l *LineReader) Read(max int) (string, error) {
	for {
		n := l.r.Buffered()
		if n == 0 {
			if _, err := l.r.Peek(1); err != nil { // wait for bytes
				return "", err
			}
			continue
		}
		chunk, _ := l.r.Peek(n)
		if l.skipLF {
			l.skipLF = false
			if chunk[0] == '\n' {
				_, _ = l.r.Discard(1)
				continue
			}
		}
		end := bytes.IndexByte(chunk, '\n') + 1
		cut := end > 0
		if !cut {
			end = n
		}
		l.take(chunk[:end], max)
		_, _ = l.r.Discard(end)
		if cut {
			break
		}
		if l.endsInCR() {
			l.skipLF = true
			break
		}
	}
	buf, tooLong := l.buf, l.tooLong
	l.buf, l.tooLong = nil, false
	if tooLong {
		return "", ErrLineTooLong
	}
	return string(stripTelnet(trimEOL(buf))), nil
}

// take adds b to the line, or drops the line once it outgrows max.
func (l *LineReader) take(b []byte, max int) {
	if l.tooLong {
		return
	}
	if len(l.buf)+len(b) > max {
		l.tooLong, l.buf = true, nil
		return
	}
	l.buf = append(l.buf, b...)
}

// endsInCR reports whether all that has arrived of the line ends in CR.
func (l *LineReader) endsInCR() bool {
	return !l.tooLong && len(l.buf) > 0 && l.buf[len(l.buf)-1] == '\r'
}

// Partial reports whether part of a line has arrived.
func (l *LineReader) Partial() bool { return len(l.buf) > 0 || l.tooLong }

func trimEOL(b []byte) []byte {
	if n := len(b); n > 0 && b[n-1] == '\n' {
		b = b[:n-1]
	}
	if n := len(b); n > 0 && b[n-1] == '\r' {
		b = b[:n-1]
	}
	return b
}

// stripTelnet drops IAC sequences in place: IAC IAC is a literal 255,
// IAC WILL/WONT/DO/DONT x is three bytes, any other IAC x is two. A DM
// that starts the line is dropped too: it is what is left of "IAC IP IAC
// DM" when a relay lost the urgent IAC.
func stripTelnet(b []byte) []byte {
	out := b[:0]
	for i := 0; i < len(b); i++ {
		if b[i] == telnetDM && len(out) == 0 {
			continue
		}
		if b[i] != telnetIAC {
			out = append(out, b[i])
			continue
		}
		if i+1 >= len(b) {
			break
		}
		switch c := b[i+1]; {
		case c == telnetIAC:
			out = append(out, telnetIAC)
			i++
		case c >= telnetWILL && c <= telnetDONT:
			i += 2
		default:
			i++
		}
	}
	return out
}
