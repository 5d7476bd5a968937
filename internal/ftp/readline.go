package ftp

import (
	"bufio"
	"errors"
)

// maxLine bounds a command line: a 1 000-byte S3 key plus verb and slack.
const maxLine = 8192

var errLineTooLong = errors.New("command line too long")

// Telnet bytes (RFC 854) that clients mix into the control stream; ABOR is
// often preceded by IAC IP IAC DM (RFC 959 §4.1.3).
const (
	telnetIAC  = 255
	telnetWILL = 251
	telnetDONT = 254
)

// lineReader reads CRLF (or bare LF) terminated command lines. A line cut
// short by a read deadline (the session wakes up to look at the idle and
// drain timers) is kept and continued by the next read.
type lineReader struct {
	r       *bufio.Reader
	buf     []byte
	tooLong bool
}

// read returns the next line without its end and with Telnet command
// sequences removed. A line longer than max is consumed and reported as
// errLineTooLong; the session goes on.
func (l *lineReader) read(max int) (string, error) {
	for {
		chunk, err := l.r.ReadSlice('\n')
		if !l.tooLong {
			if len(l.buf)+len(chunk) > max {
				l.tooLong, l.buf = true, nil
			} else {
				l.buf = append(l.buf, chunk...)
			}
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		if err != nil {
			return "", err
		}
		break
	}
	buf, tooLong := l.buf, l.tooLong
	l.buf, l.tooLong = nil, false
	if tooLong {
		return "", errLineTooLong
	}
	return string(stripTelnet(trimEOL(buf))), nil
}

// partial reports whether part of a line has arrived.
func (l *lineReader) partial() bool { return len(l.buf) > 0 || l.tooLong }

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
// IAC WILL/WONT/DO/DONT x is three bytes, any other IAC x is two.
func stripTelnet(b []byte) []byte {
	out := b[:0]
	for i := 0; i < len(b); i++ {
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
