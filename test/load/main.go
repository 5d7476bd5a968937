// Command load drives the real s3ftpd binary with many concurrent FTP
// sessions from many loopback source addresses and verifies every byte:
//
//	go run ./test/load -sessions 1000 -duration 5m
//
// Each session logs in from 127.0.x.y (-per-ip sessions share one address,
// well under the default max_sessions_per_ip of 100, which the driver
// leaves as it is), makes its own directory and loops over random
// operations on its own files: STOR of random sizes (a few bytes to a few
// MiB, a share above the 5 MiB part size), RETR verified by SHA-256
// against what that session sent, LIST checked against its names and
// sizes, SIZE, RNFR/RNTO and DELE. It keeps a model of what must exist and
// checks all of it (LIST and every file's bytes) at the end. The driver
// samples s3ftpd's RSS, descriptors and threads before, during and after.
// Every operation has a deadline, the run stops by itself, and s3ftpd (and
// versitygw with -store versitygw) is stopped by its PID on every way out.
// TestLoad runs a small version in go test ./... .
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	opt := defaultOptions()
	flag.IntVar(&opt.sessions, "sessions", opt.sessions, "concurrent sessions")
	flag.IntVar(&opt.perIP, "per-ip", opt.perIP, "sessions per loopback source address (127.0.2.1, 127.0.2.2, …)")
	flag.DurationVar(&opt.duration, "duration", opt.duration, "how long sessions start new operations")
	flag.DurationVar(&opt.ramp, "ramp", opt.ramp, "sessions start spread over this")
	flag.DurationVar(&opt.think, "think", opt.think, "mean pause between a session's operations (uniform 0..2×)")
	flag.DurationVar(&opt.opTimeout, "op-timeout", opt.opTimeout, "deadline of every FTP operation")
	flag.IntVar(&opt.maxFiles, "max-files", opt.maxFiles, "files a session keeps at most")
	flag.Float64Var(&opt.multipart, "multipart", opt.multipart, "share of uploads above the 5 MiB part size")
	flag.Int64Var(&opt.maxSize, "max-size", opt.maxSize, "largest upload, bytes")
	flag.DurationVar(&opt.sample, "sample", opt.sample, "interval of the server's RSS/fd samples")
	flag.DurationVar(&opt.quiet, "quiet", opt.quiet, "pause after the warm-up, before the baseline sample")
	flag.DurationVar(&opt.settle, "settle", opt.settle, "wait at most this for the sessions' descriptors to go after the run")
	flag.DurationVar(&opt.linger, "linger", opt.linger, "watch the idle server this long after it settled")
	flag.IntVar(&opt.rounds, "rounds", opt.rounds, "rounds of -sessions new sessions on one server, one after the other")
	flag.StringVar(&opt.store, "store", opt.store, "embedded (in s3ftpd) or versitygw (a separate process)")
	flag.StringVar(&opt.server, "server", "", "s3ftpd binary (default: go build ./cmd/s3ftpd)")
	flag.StringVar(&opt.versitygw, "versitygw", opt.versitygw, "versitygw binary for -store versitygw")
	flag.BoolVar(&opt.gctrace, "gctrace", false, "run s3ftpd with GODEBUG=gctrace=1 and report its live heap after the last GC")
	flag.BoolVar(&opt.keep, "keep", false, "keep the work directory (logs, store)")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	logf := func(format string, args ...any) {
		fmt.Fprintf(os.Stderr, time.Now().UTC().Format("15:04:05 ")+format+"\n", args...)
	}
	res, err := run(ctx, opt, logf)
	if res != nil {
		printReport(os.Stdout, opt, res)
	}
	if err == nil {
		err = res.verdict(opt)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "FAIL:", err)
		os.Exit(1)
	}
	fmt.Println("PASS")
}

func defaultOptions() options {
	return options{sessions: 1000, perIP: 10, duration: 5 * time.Minute, ramp: 20 * time.Second,
		think: 200 * time.Millisecond, opTimeout: 3 * time.Minute, maxFiles: 5, multipart: 0.005,
		maxSize: 12 << 20, sample: 10 * time.Second, quiet: 5 * time.Second, settle: 30 * time.Second, linger: 3 * time.Minute, rounds: 1,
		store: "embedded", versitygw: "versitygw"}
}

// printReport writes the figures of a run.
func printReport(w io.Writer, opt options, r *result) {
	s := r.stats
	secs := r.elapsed.Seconds()
	fmt.Fprintf(w, "sessions %d from %d source addresses (%d each), %d round(s) of %v (+ final check), store %s\n",
		opt.sessions, r.sources, opt.perIP, len(r.rounds), opt.duration, opt.store)
	fmt.Fprintf(w, "operations %d (%s), logins %d, files verified at the end %d\n",
		s.totalOps(), counts(s.ops), s.logins, s.checkedN)
	fmt.Fprintf(w, "bytes stored %.1f MiB (%d uploads above the 5 MiB part size), bytes read back and verified %.1f MiB; %.1f MiB/s in+out over %v\n",
		mib(s.sent), s.multipart, mib(s.recv), mib(s.sent+s.recv)/max(secs, 1), r.elapsed.Round(time.Second))
	fmt.Fprintf(w, "errors %d (%s); mismatches %d (%s)\n", s.totalErrors(), counts(s.errs), s.totalMismatches(), counts(s.mismatches))
	for _, m := range s.samples {
		fmt.Fprintln(w, "  ", m)
	}
	peak := r.baseline
	for _, p := range r.samples {
		peak.rss, peak.fds, peak.threads = max(peak.rss, p.rss), max(peak.fds, p.fds), max(peak.threads, p.threads)
		peak.hwm = max(peak.hwm, p.hwm)
	}
	fmt.Fprintf(w, "s3ftpd before: %v\n", r.baseline)
	fmt.Fprintf(w, "s3ftpd peak:   RSS %.1f MiB (VmHWM %.1f MiB), fds %d, threads %d\n", mib(peak.rss), mib(peak.hwm), peak.fds, peak.threads)
	var busy []procSample // with every session running
	for _, p := range r.samples {
		if p.sessions == opt.sessions {
			busy = append(busy, p)
		}
	}
	if n := len(busy); n >= 2 {
		fmt.Fprintf(w, "s3ftpd during: at %v %v; at %v %v\n", busy[n/2].at.Round(time.Second), busy[n/2],
			busy[n-1].at.Round(time.Second), busy[n-1])
	}
	for i, rr := range r.rounds {
		fmt.Fprintf(w, "s3ftpd after round %d (%v): %v\n", i+1, rr.elapsed.Round(time.Second), rr.settled)
		if rr.lingered != nil {
			fmt.Fprintf(w, "s3ftpd %v later: %v\n", opt.linger, *rr.lingered)
		}
		if opt.gctrace {
			fmt.Fprintf(w, "  last GC by then: %v (at the baseline: %v)\n", rr.gc, r.baseGC)
		}
	}
	fmt.Fprintf(w, "s3ftpd log: %d ERROR, %d WARN lines\n", r.serverLog["level=ERROR"], r.serverLog["level=WARN"])
	fmt.Fprintf(w, "load average before %s, after %s\n", r.loadBefore, r.loadAfter)
	if opt.keep {
		fmt.Fprintf(w, "work directory kept: %s\n", r.workDir)
	}
}
