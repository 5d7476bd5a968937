package ftp

import (
	"testing"
	"time"
)

// LogLimiter lets one line per source and message through per interval
// and reports how many it dropped with the next.
func TestLogLimiter(t *testing.T) {
	var l LogLimiter
	now := time.Unix(1000, 0)
	if n, ok := l.allow("a", "m", now); !ok || n != 0 {
		t.Fatalf("first line: %d, %v", n, ok)
	}
	for i := range 5 {
		if _, ok := l.allow("a", "m", now.Add(time.Duration(i)*time.Second)); ok {
			t.Fatal("a repeat within the interval was let through")
		}
	}
	if _, ok := l.allow("b", "m", now); !ok {
		t.Fatal("another source was held back")
	}
	if n, ok := l.allow("a", "m", now.Add(11*time.Second)); !ok || n != 5 {
		t.Fatalf("after the interval: %d suppressed, %v; want 5, true", n, ok)
	}
}
