package wire

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"strconv"
	"strings"
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
// between lines, as the session does while a command runs) and LineReader.
//
// A CR that is the last byte read so far ends a line (LineReader.Read: the
// urgent LF of ftplib.abort() may never come through a relay), so where a
// CR that no LF follows splits a line depends on how the bytes arrived.
// Hence three checks:
//
//   - any stream, as it comes: no panic, every line within the limit and
//     without LF, and at most one line per LF or CR (plus the last);
//   - the stream with every CR not followed by LF made a plain byte: the
//     lines are those of the stream split at each LF, the line end removed,
//     Telnet sequences dropped, a line over the limit reported as
//     ErrLineTooLong and the stream read on after it, however it is cut;
//   - that stream again, cut after every CR, so that each CR and its LF
//     arrive in different reads: the same lines (the late LF is dropped,
//     not an empty extra line).
func FuzzLineReader(f *testing.F) {
	f.Add([]byte("USER alice\r\nPASS secret\r\nQUIT\r\n"), []byte{3, 200, 7, 1})
	f.Add([]byte("\xff\xf4\xff\xf2ABOR\r\nNOOP\n"), []byte{1, 1, 1, 250, 2})
	f.Add([]byte("STOR a\xff\xffb\r\nLIST\r"), []byte{})
	f.Add(bytes.Repeat([]byte("x"), 200), []byte{17, 245, 33})
	f.Add([]byte(string(bytes.Repeat([]byte("y"), 70))+"\r\nPWD\r\n"), []byte{5, 255, 5, 255, 100})
	f.Add([]byte("\r\n\r\n\x00\r\nQUIT\n"), []byte{2})
	f.Add([]byte("ABOR\rNOOP\r\r\nRETR a\rb\n"), []byte{4, 240, 0, 5})
	f.Fuzz(func(t *testing.T, data, cuts []byte) {
		const max = 64
		if len(data) > 4096 || len(cuts) > 256 {
			return
		}
		raw := readLines(t, chunked(data, cuts), max)
		if limit := bytes.Count(data, []byte("\n")) + bytes.Count(data, []byte("\r")) + 1; len(raw) > limit {
			t.Fatalf("%d lines from %d line ends: %v", len(raw), limit-1, raw)
		}

		data = append([]byte(nil), data...)
		for i := 0; i+1 < len(data); i++ {
			if data[i] == '\r' && data[i+1] != '\n' {
				data[i] = 'r'
			}
		}
		want := splitLF(data, max)
		checkLines(t, "chunks", readLines(t, chunked(data, cuts), max), want)

		var atCR []step
		for rest := data; len(rest) > 0; {
			n := bytes.IndexByte(rest, '\r') + 1
			if n == 0 {
				n = len(rest)
			}
			atCR = append(atCR, step{data: rest[:n]})
			rest = rest[n:]
		}
		checkLines(t, "cut at CR", readLines(t, atCR, max), want)
	})
}

// chunked cuts data into the steps cuts chooses: a chunk of c%64+1 bytes
// for each c, a read timeout for a c >= 240, the rest in one chunk.
func chunked(data, cuts []byte) []step {
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
	return append(steps, step{data: rest})
}

// A line as read (tooLong: ErrLineTooLong) or as expected (either: a CRLF
// line one byte over the limit may be taken at its CR, and then it is not
// over: both answers are right).
type line struct {
	text            string
	tooLong, either bool
}

func (l line) String() string {
	if l.tooLong {
		return "(too long)"
	}
	return strconv.Quote(l.text)
}

// splitLF is what the lines of a stream in which every CR is followed by
// LF (or ends the stream) must be.
func splitLF(data []byte, max int) []line {
	var want []line
	for seg := data; ; {
		i := bytes.IndexByte(seg, '\n')
		if i < 0 {
			// The last line, ended by its CR (over the limit it waits
			// for its LF, and the stream ends first).
			if len(seg) > 0 && len(seg) <= max && seg[len(seg)-1] == '\r' {
				i = len(seg) - 1
			} else {
				return want
			}
		}
		l := seg[:i+1]
		seg = seg[i+1:]
		want = append(want, line{
			text:    string(stripTelnet(trimEOL(append([]byte(nil), l...)))),
			tooLong: len(l) > max,
			either:  len(l) == max+1 && bytes.HasSuffix(l, []byte("\r\n")),
		})
	}
}

// readLines reads steps to their end as the session does, and checks what
// holds for any stream: reading ends, no line holds LF or exceeds max, and
// the control reader sees nothing but the end of the stream.
func readLines(t *testing.T, steps []step, max int) []line {
	t.Helper()
	reads := len(steps) + 2
	for _, s := range steps {
		reads += len(s.data)
	}
	conn := &script{steps: steps}
	var goneErr error
	in := NewCtrlReader(conn, func(err error) { goneErr = err })
	lr := NewLineReader(bufio.NewReaderSize(in, 16))
	var got []line
	for i := 0; ; i++ { // each read consumes a step or a line
		if i == reads {
			t.Fatalf("still reading after %d reads", reads)
		}
		if i%3 == 1 { // a command ran: its watch read one byte ahead
			in.Watch()
			in.Unwatch()
		}
		text, err := lr.Read(max)
		var ne net.Error
		switch {
		case errors.As(err, &ne) && ne.Timeout():
			continue
		case errors.Is(err, ErrLineTooLong):
			got = append(got, line{tooLong: true})
			continue
		case err == io.EOF:
		case err != nil:
			t.Fatalf("read: %v", err)
		default:
			if strings.IndexByte(text, '\n') >= 0 || len(text) > max {
				t.Fatalf("line %q", text)
			}
			got = append(got, line{text: text})
			continue
		}
		break
	}
	if goneErr != nil && goneErr != io.EOF {
		t.Fatalf("gone: %v", goneErr)
	}
	return got
}

func checkLines(t *testing.T, how string, got, want []line) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: got %d lines %v, want %d %v", how, len(got), got, len(want), want)
	}
	for i, w := range want {
		g := got[i]
		if w.either && g.tooLong != w.tooLong {
			continue
		}
		if g.tooLong != w.tooLong || (!g.tooLong && g.text != w.text) {
			t.Fatalf("%s: line %d: got %q (too long %v), want %q (%v)", how, i, g.text, g.tooLong, w.text, w.tooLong)
		}
	}
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
