package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/s3ftpd/s3ftpd/internal/s3fs/s3faults"
)

// latencyProxy is the latency mode's S3 endpoint: an HTTP reverse proxy on
// loopback in front of the store that holds every request for rtt before
// forwarding it (one network round trip to a distant S3 region), and
// records each request's S3 operation and its start and end. The Host
// header goes through unchanged, so SigV4 signatures made for the proxy's
// address still verify at the store.
type latencyProxy struct {
	rtt time.Duration
	ln  net.Listener
	srv *http.Server

	mu   sync.Mutex
	reqs []s3Request
}

// s3Request is one request seen by the proxy: start is when it arrived,
// end when its response was complete (before the server flushed its last
// bytes, so a request sent after the answer always starts after end).
type s3Request struct {
	op         string
	start, end time.Time
}

// startLatencyProxy listens on 127.0.0.1 and forwards to target
// (http://host:port).
func startLatencyProxy(target string, rtt time.Duration) (*latencyProxy, error) {
	u, err := url.Parse(target)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &latencyProxy{rtt: rtt, ln: ln}
	rp := httputil.NewSingleHostReverseProxy(u) // keeps the incoming Host
	// FlushInterval 0: the last bytes of an answer leave when the handler
	// returns, after its end is recorded.
	rp.Transport = &http.Transport{MaxIdleConnsPerHost: 256, IdleConnTimeout: time.Minute}
	p.srv = &http.Server{Handler: p.handler(rp), ReadHeaderTimeout: 30 * time.Second}
	go func() { _ = p.srv.Serve(ln) }()
	return p, nil
}

func (p *latencyProxy) handler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		op := s3faults.Operation(r)
		t := time.NewTimer(p.rtt)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return
		}
		next.ServeHTTP(w, r)
		end := time.Now()
		p.mu.Lock()
		p.reqs = append(p.reqs, s3Request{op: op, start: start, end: end})
		p.mu.Unlock()
	})
}

// endpoint is the URL S3 clients use instead of the store's.
func (p *latencyProxy) endpoint() string { return "http://" + p.ln.Addr().String() }

// between returns the requests that arrived in [from, to).
func (p *latencyProxy) between(from, to time.Time) []s3Request {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []s3Request
	for _, r := range p.reqs {
		if !r.start.Before(from) && r.start.Before(to) {
			out = append(out, r)
		}
	}
	return out
}

// settle waits until no request has been in flight or arrived for quiet
// (at most limit): what a command started in the background has ended.
func (p *latencyProxy) settle(ctx context.Context, quiet, limit time.Duration) {
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		p.mu.Lock()
		var last time.Time
		if n := len(p.reqs); n > 0 {
			last = p.reqs[n-1].end
		}
		p.mu.Unlock()
		if time.Since(last) >= quiet {
			return
		}
		time.Sleep(quiet / 4)
	}
}

func (p *latencyProxy) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = p.srv.Shutdown(ctx)
}

// sequentialRoundTrips is the longest chain of requests each of which
// started after the previous one ended: how many round trips the client
// waited for one after the other. Requests in flight together count once.
// (Greedy by end time: the largest set of pairwise disjoint intervals.)
func sequentialRoundTrips(reqs []s3Request) int {
	rs := slices.Clone(reqs)
	sort.Slice(rs, func(i, j int) bool { return rs[i].end.Before(rs[j].end) })
	n := 0
	var last time.Time
	for _, r := range rs {
		if n == 0 || !r.start.Before(last) {
			n++
			last = r.end
		}
	}
	return n
}

// opCounts is "HeadObject×2, ListObjectsV2" for a set of requests, in a
// stable order.
func opCounts(reqs []s3Request) string {
	c := map[string]int{}
	for _, r := range reqs {
		c[r.op]++
	}
	ops := make([]string, 0, len(c))
	for op := range c {
		ops = append(ops, op)
	}
	sort.Strings(ops)
	var parts []string
	for _, op := range ops {
		if c[op] > 1 {
			parts = append(parts, fmt.Sprintf("%s×%d", op, c[op]))
		} else {
			parts = append(parts, op)
		}
	}
	if len(parts) == 0 {
		return "—"
	}
	return strings.Join(parts, ", ")
}
