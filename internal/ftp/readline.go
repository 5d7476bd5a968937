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

// readLine reads one CRLF (or bare LF) terminated line, removes Telnet
// command sequences and returns it without the line end. A line longer
// than max is consumed and reported as errLineTooLong; the session goes on.
func readLine(r *bufio.Reader, max int) (string, error) {
	var buf []byte
	tooLong := false
	for {
		chunk, err := r.ReadSlice('\n')
		if !tooLong {
			if len(buf)+len(chunk) > max {
				tooLong, buf = true, nil
			} else {
				buf = append(buf, chunk...)
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
	if tooLong {
		return "", errLineTooLong
	}
	return string(stripTelnet(trimEOL(buf))), nil
}

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
