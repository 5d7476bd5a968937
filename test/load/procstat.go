package main

import (
	"bufio"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
)

// procSample is what the driver reads of the server process: resident
// memory (VmRSS, VmHWM), open descriptors (/proc/PID/fd) and OS threads
// (Threads) from /proc, and goroutines and the live heap from s3ftpd's own
// /metrics (the Go collector's go_goroutines and go_memstats_alloc_bytes).
type procSample struct {
	at           time.Duration // since the sessions started
	rss, hwm     int64         // bytes
	fds, threads int
	kinds        fdKinds
	goroutines   int
	heap         int64 // bytes of live and not yet collected heap objects
	sessions     int   // driver sessions running at that moment
}

// probe is how the driver samples the server: its PID, the store's port
// (to tell its store connections apart) and its /metrics address.
type probe struct {
	pid, storePort int
	metrics        string // http://127.0.0.1:PORT/metrics
}

// read samples the server.
func (pr probe) read() (procSample, error) {
	p, err := readProc(pr.pid, pr.storePort)
	if err != nil {
		return p, err
	}
	m, err := scrape(pr.metrics, "go_goroutines", "go_memstats_alloc_bytes")
	if err != nil {
		return p, err
	}
	p.goroutines, p.heap = int(m["go_goroutines"]), int64(m["go_memstats_alloc_bytes"])
	return p, nil
}

// scrape reads the named samples (metrics without labels) from a
// Prometheus text exposition.
func scrape(url string, names ...string) (map[string]float64, error) {
	// No keep-alive: a connection left open would count as a client's.
	c := http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := c.Get(url)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s: %s", url, resp.Status)
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		name, v, ok := strings.Cut(sc.Text(), " ")
		if ok && slices.Contains(names, name) {
			if out[name], err = strconv.ParseFloat(strings.TrimSpace(v), 64); err != nil {
				return nil, fmt.Errorf("%s: %s: %v", url, name, err)
			}
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	for _, n := range names {
		if _, ok := out[n]; !ok {
			return nil, fmt.Errorf("%s: no %s", url, n)
		}
	}
	return out, nil
}

// readProc samples pid's /proc figures.
func readProc(pid, storePort int) (procSample, error) {
	var p procSample
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return p, err
	}
	for _, line := range strings.Split(string(data), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		v = strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB"))
		n, _ := strconv.ParseInt(v, 10, 64)
		switch k {
		case "VmRSS":
			p.rss = n << 10
		case "VmHWM":
			p.hwm = n << 10
		case "Threads":
			p.threads = int(n)
		}
	}
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		return p, err
	}
	p.fds = len(fds)
	if p.kinds, err = readFDKinds(pid, storePort); err != nil {
		return p, err
	}
	if p.rss == 0 {
		return p, fmt.Errorf("/proc/%d/status: no VmRSS", pid)
	}
	return p, nil
}

func (p procSample) String() string {
	return fmt.Sprintf("RSS %.1f MiB, heap %.1f MiB, fds %d (%v), threads %d, goroutines %d",
		mib(p.rss), mib(p.heap), p.fds, p.kinds, p.threads, p.goroutines)
}

func mib(n int64) float64 { return float64(n) / (1 << 20) }

// loadAvg is /proc/loadavg's first three fields.
func loadAvg() string {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(data))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}
