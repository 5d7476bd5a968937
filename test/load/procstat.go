package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// procSample is what the driver reads of the server process: resident
// memory (VmRSS, VmHWM), open descriptors (/proc/PID/fd) and OS threads
// (Threads). Goroutines are not measured: s3ftpd exposes no debug endpoint
// by default, and the driver adds none.
type procSample struct {
	at           time.Duration // since the sessions started
	rss, hwm     int64         // bytes
	fds, threads int
	kinds        fdKinds
	sessions     int // driver sessions running at that moment
}

// readProc samples pid; storePort tells its store connections apart.
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
	return fmt.Sprintf("RSS %.1f MiB, fds %d (%v), threads %d", mib(p.rss), p.fds, p.kinds, p.threads)
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
