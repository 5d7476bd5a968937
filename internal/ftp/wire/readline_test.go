package wire

import (
	"bufio"
	"errors"
	"net"
	"testing"
	"time"
)

// Lines arrive in pieces; each piece is written before the next read, so
// the reader sees exactly what a client that sent it so far would.
func TestLineReaderPieces(t *testing.T) {
	for _, tc := range []struct {
		name   string
		pieces []string
		want   []string
	}{
		{"crlf", []string{"NOOP\r\n"}, []string{"NOOP"}},
		{"split", []string{"NO", "OP\r", "\n"}, []string{"NOOP"}},
		{"bare lf", []string{"NOOP\nQUIT\r\n"}, []string{"NOOP", "QUIT"}},
		// The LF of an urgent command lost by a relay: the CR ends it.
		{"abor without lf", []string{"ABOR\r"}, []string{"ABOR"}},
		{"abor lf late", []string{"abor\r", "\nNOOP\r\n"}, []string{"abor", "NOOP"}},
		{"abor lf never", []string{"ABOR\r", "NOOP\r\n"}, []string{"ABOR", "NOOP"}},
		{"noop without lf", []string{"NOOP\r", "\r\n", "QUIT\r\n"}, []string{"NOOP", "", "QUIT"}},
		// A CR inside what has arrived is part of the line (and refused
		// later as a name).
		{"cr in a name", []string{"RETR a\rb\r\n"}, []string{"RETR a\rb"}},
		{"telnet synch", []string{"\xff\xf4\xff\xf2ABOR\r\n"}, []string{"ABOR"}},
		{"synch lost iac", []string{"\xff\xf4\xf2ABOR\r"}, []string{"ABOR"}},
		{"iac iac", []string{"RETR \xff\xffx\r\n"}, []string{"RETR \xffx"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, s := net.Pipe()
			defer c.Close()
			defer s.Close()
			l := NewLineReader(bufio.NewReader(s))
			lines := make(chan string, len(tc.want))
			errc := make(chan error, 1)
			go func() {
				for range tc.want {
					line, err := l.Read(MaxLine)
					if err != nil {
						errc <- err
						return
					}
					lines <- line
				}
				errc <- nil
			}()
			go func() {
				for _, p := range tc.pieces {
					if _, err := c.Write([]byte(p)); err != nil {
						return
					}
				}
			}()
			select {
			case err := <-errc:
				if err != nil {
					t.Fatal(err)
				}
			case <-time.After(10 * time.Second): // a hang, not a speed check
				t.Fatalf("lines not returned after %q", tc.pieces)
			}
			for _, w := range tc.want {
				if got := <-lines; got != w {
					t.Fatalf("line %q, want %q", got, w)
				}
			}
		})
	}
}

func TestLineReaderTooLong(t *testing.T) {
	c, s := net.Pipe()
	defer c.Close()
	defer s.Close()
	l := NewLineReader(bufio.NewReader(s))
	go func() {
		long := make([]byte, 3*MaxLine)
		for i := range long {
			long[i] = 'x'
		}
		_, _ = c.Write(long)
		_, _ = c.Write([]byte("\r\nNOOP\r\n"))
	}()
	if _, err := l.Read(MaxLine); !errors.Is(err, ErrLineTooLong) {
		t.Fatalf("err %v, want ErrLineTooLong", err)
	}
	if line, err := l.Read(MaxLine); err != nil || line != "NOOP" {
		t.Fatalf("after a long line: %q %v", line, err)
	}
}
