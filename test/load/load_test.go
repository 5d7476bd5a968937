package main

import (
	"context"
	"strings"
	"testing"
	"time"
)

// TestLoad is the small version of the load run, part of go test ./...:
// 64 sessions from 8 loopback addresses for 15 s against the real binary
// on its embedded store, with the same checks as the full run (0 errors,
// 0 mismatches, the whole model verified, descriptors back after). Only
// the deadlines are in time; nothing asserts a speed.
func TestLoad(t *testing.T) {
	opt := defaultOptions()
	opt.sessions, opt.perIP = 64, 8
	opt.duration, opt.ramp, opt.think = 15*time.Second, 3*time.Second, 250*time.Millisecond
	opt.multipart, opt.maxSize = 0.01, 10<<20
	opt.sample, opt.quiet, opt.settle, opt.linger = 5*time.Second, time.Second, 20*time.Second, 0
	if testing.Short() {
		opt.sessions, opt.duration = 32, 8*time.Second
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	res, err := run(ctx, opt, t.Logf)
	if res != nil {
		printReport(testWriter{t}, opt, res)
	}
	if err != nil {
		t.Fatal(err)
	}
	if err := res.verdict(opt); err != nil {
		t.Fatal(err)
	}
}

// testWriter sends the report to t.Log, line by line.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(b), "\n"))
	return len(b), nil
}
