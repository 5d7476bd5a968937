package ftp

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// LogLimiter lets through one line per source and message per interval
// and counts the rest, so that a peer repeating a refused action cannot
// flood the log or hide other lines in it. The next line let through for
// that source and message carries "suppressed": how many were dropped
// since the last one. The zero value is ready to use (an interval of 10s).
type LogLimiter struct {
	Every time.Duration // default 10s

	mu   sync.Mutex
	seen map[logKey]*logEntry
}

type logKey struct{ source, msg string }

type logEntry struct {
	last       time.Time
	suppressed int
}

// logPruneAt bounds the limiter's memory: beyond it, entries older than
// the interval are dropped (with their counts: a lost count is reported
// as nothing suppressed, never the other way round).
const logPruneAt = 10000

// Log writes msg at level unless a line with the same msg for source was
// written within the interval.
func (l *LogLimiter) Log(log *slog.Logger, level slog.Level, source, msg string, args ...any) {
	if n, ok := l.allow(source, msg, time.Now()); ok {
		if n > 0 {
			args = append(args, "suppressed", n)
		}
		log.Log(context.Background(), level, msg, args...)
	}
}

// Warn is Log at WARN.
func (l *LogLimiter) Warn(log *slog.Logger, source, msg string, args ...any) {
	l.Log(log, slog.LevelWarn, source, msg, args...)
}

func (l *LogLimiter) allow(source, msg string, now time.Time) (int, bool) {
	every := l.Every
	if every <= 0 {
		every = 10 * time.Second
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.seen == nil {
		l.seen = map[logKey]*logEntry{}
	}
	k := logKey{source, msg}
	e := l.seen[k]
	if e != nil && now.Sub(e.last) < every {
		e.suppressed++
		return 0, false
	}
	if len(l.seen) >= logPruneAt {
		for k, e := range l.seen {
			if now.Sub(e.last) >= every {
				delete(l.seen, k)
			}
		}
	}
	n := 0
	if e != nil {
		n = e.suppressed
	}
	l.seen[k] = &logEntry{last: now}
	return n, true
}
