package wire

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"sync"
	"testing"
	"time"
)

// script is a net.Conn whose reads return data in the chunks a fuzz input
// chose, with read deadlines (timeouts) in between, and then io.EOF.
type script struct {
	net.Conn // nil: only Read and SetReadDeadline are used
	mu       sync.Mutex
	steps    []step
}

type step struct {
	data    []byte
	timeout bool
}

type timeoutErr struct{}

func (timeoutErr) Error() string   { return "i/o timeout" }
func (timeoutErr) Timeout() bool   { return true }
func (timeoutErr) Temporary() bool { return true }

func (c *script) Read(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for len(c.steps) > 0 {
		s := &c.steps[0]
		if s.timeout {
			c.steps = c.steps[1:]
			return 0, timeoutErr{}
		}
		if len(s.data) == 0 {
			c.steps = c.steps[1:]
			continue
		}
		n := copy(p, s.data)
		s.data = s.data[n:]
		return n, nil
	}
	return 0, io.EOF
}

func (c *script) SetReadDeadline(time.Time) error { return nil }

// FuzzLineReader reads a stream, cut into chunks and interrupted by read
// timeouts as the fuzzer chooses, through CtrlReader (watched and unwatched
// between lines, as the session does while a command runs) and
// LineReader, and checks that the lines are those of the stream split at
// each LF: the line end removed, Telnet sequences dropped, a line over the
// limit reported as ErrLineTooLong, and the stream read on after it.
func FuzzLineReader(f *testing.F) {
	f.Add([]byte("USER alice\r\nPASS secret\r\nQUIT\r\n"), []byte{3, 200, 7, 1})
	f.Add([]byte("\xff\xf4\xff\xf2ABOR\r\nNOOP\n"), []byte{1, 1, 1, 250, 2})
	f.Add([]byte("STOR a\xff\xffb\r\nLIST\r"), []byte{})
	f.Add(bytes.Repeat([]byte("x"), 200), []byte{17, 245, 33})
	f.Add([]byte(string(bytes.Repeat([]byte("y"), 70))+"\r\nPWD\r\n"), []byte{5, 255, 5, 255, 100})
	f.Add([]byte("\r\n\r\n\x00\r\nQUIT\n"), []byte{2})
	f.Fuzz(func(t *testing.T, data, cuts []byte) {
		const max = 64
		if len(data) > 4096 || len(cuts) > 256 {
			return
		}
		// A CR that is the last byte read so far ends a line (LineReader.Read:
		// the urgent LF may never come), so where a bare CR splits a line
		// depends on how the bytes arrived; TestLineReaderPieces covers
		// that. Here a CR is always followed by LF or ends the stream, so
		// that the lines do not depend on the chunks.
		data = append([]byte(nil), data...)
		for i := 0; i+1 < len(data); i++ {
			if data[i] == '\r' && data[i+1] != '\n' {
				data[i] = 'r'
			}
		}
		// The steps: chunk sizes from cuts (a byte >= 240 is a timeout).
		var steps []step
		rest := data
		for _, c := range cuts {
			if c >= 240 {
				steps = append(steps, step{timeout: true})
				continue
			}
			n := min(int(c%64)+1, len(rest))
			steps = append(steps, step{data: rest[:n]})
			rest = rest[n:]
		}
		steps = append(steps, step{data: rest})

		// What the lines must be.
		var want []string
		var wantErr, either []bool
		for seg := data; ; {
			i := bytes.IndexByte(seg, '\n')
			if i < 0 {
				// The last line, ended by its CR (over the limit it waits
				// for its LF, and the stream ends first).
				if len(seg) > 0 && len(seg) <= max && seg[len(seg)-1] == '\r' {
					i = len(seg) - 1
				} else {
					break
				}
			}
			line := seg[:i+1]
			seg = seg[i+1:]
			// A CRLF line one byte over the limit may be taken at its CR
			// (then it is not over): either answer is right.
			either = append(either, len(line) == max+1 && bytes.HasSuffix(line, []byte("\r\n")))
			want = append(want, string(stripTelnet(trimEOL(append([]byte(nil), line...)))))
			wantErr = append(wantErr, len(line) > max)
		}

		conn := &script{steps: steps}
		var goneErr error
		in := NewCtrlReader(conn, func(err error) { goneErr = err })
		lr := NewLineReader(bufio.NewReaderSize(in, 16))
		var got []string
		var gotErr []bool
		for i := 0; i < len(data)+len(cuts)+2; i++ { // each read consumes a step or a line
			if i%3 == 1 { // a command ran: its watch read one byte ahead
				in.Watch()
				in.Unwatch()
			}
			line, err := lr.Read(max)
			var ne net.Error
			switch {
			case errors.As(err, &ne) && ne.Timeout():
				continue
			case errors.Is(err, ErrLineTooLong):
				got, gotErr = append(got, ""), append(gotErr, true)
				continue
			case err == io.EOF:
			case err != nil:
				t.Fatalf("read: %v", err)
			default:
				got, gotErr = append(got, line), append(gotErr, false)
				if bytes.IndexByte([]byte(line), '\n') >= 0 || len(line) > max {
					t.Fatalf("line %q", line)
				}
				continue
			}
			break
		}
		if goneErr != nil && goneErr != io.EOF {
			t.Fatalf("gone: %v", goneErr)
		}
		if len(got) != len(want) {
			t.Fatalf("got %d lines %q, want %d %q", len(got), got, len(want), want)
		}
		for i := range want {
			if either[i] && gotErr[i] != wantErr[i] {
				continue
			}
			if gotErr[i] != wantErr[i] || (!gotErr[i] && got[i] != want[i]) {
				t.Fatalf("line %d: got %q (too long %v), want %q (%v)", i, got[i], gotErr[i], want[i], wantErr[i])
			}
		}
	})
}

// FuzzStripTelnet: the output is never longer than the input, a line
// without IAC is unchanged, and IAC IAC is one literal 255.
func FuzzStripTelnet(f *testing.F) {
	f.Add([]byte("\xff\xf4\xff\xf2ABOR"))
	f.Add([]byte("a\xff\xffb\xff"))
	f.Fuzz(func(t *testing.T, b []byte) {
		in := append([]byte(nil), b...)
		out := stripTelnet(b)
		if len(out) > len(in) {
			t.Fatalf("%q -> %q", in, out)
		}
		// A DM that starts the line is dropped (what a relay leaves of a
		// Synch); nothing else without IAC changes.
		plain := in
		for len(plain) > 0 && plain[0] == telnetDM {
			plain = plain[1:]
		}
		if bytes.IndexByte(in, telnetIAC) < 0 && !bytes.Equal(plain, out) {
			t.Fatalf("%q -> %q", in, out)
		}
		esc := bytes.ReplaceAll(plain, []byte{telnetIAC}, []byte{telnetIAC, telnetIAC})
		if got := stripTelnet(esc); !bytes.Equal(got, plain) {
			t.Fatalf("escaped %q -> %q, want %q", esc, got, plain)
		}
	})
}
