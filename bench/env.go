package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// machineFacts describes the machine from /proc/cpuinfo, nproc and
// /proc/meminfo.
func machineFacts() []string {
	var facts []string
	model, cores := "", 0
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			k, v, ok := strings.Cut(sc.Text(), ":")
			if !ok {
				continue
			}
			switch strings.TrimSpace(k) {
			case "model name":
				if model == "" {
					model = strings.TrimSpace(v)
				}
			case "processor":
				cores++
			}
		}
		f.Close()
	}
	facts = append(facts, fmt.Sprintf("CPU: %s (%d logical CPUs in /proc/cpuinfo)", orUnknown(model), cores))
	nproc := strconv.Itoa(runtime.NumCPU())
	if out, err := runCmd(context.Background(), 10*time.Second, nil, "", "nproc"); err == nil {
		nproc = strings.TrimSpace(out)
	}
	facts = append(facts, "nproc: "+nproc)
	if mt := meminfo("MemTotal"); mt > 0 {
		facts = append(facts, fmt.Sprintf("memory: %.1f GiB", float64(mt)/(1<<30)))
	}
	if rel, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		facts = append(facts, "kernel: Linux "+strings.TrimSpace(string(rel)))
	}
	facts = append(facts, "Go: "+runtime.Version()+" "+runtime.GOOS+"/"+runtime.GOARCH)
	return facts
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

// meminfo returns a /proc/meminfo field in bytes (0 if unknown).
func meminfo(field string) int64 {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && k == field {
			n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return n << 10
		}
	}
	return 0
}

func memAvailable() int64 { return meminfo("MemAvailable") }

// s3ftpdVersion is the commit of the working tree, marked when it has
// uncommitted changes (the binary under test is built from the tree).
func s3ftpdVersion(ctx context.Context) string {
	root, err := moduleRoot(ctx)
	if err != nil {
		return "unknown"
	}
	rev, err := runCmd(ctx, 10*time.Second, nil, root, "git", "rev-parse", "--short=12", "HEAD")
	if err != nil {
		return "unknown (not a git checkout)"
	}
	v := "commit " + strings.TrimSpace(rev)
	if st, err := runCmd(ctx, 10*time.Second, nil, root, "git", "status", "--porcelain", "--untracked-files=no"); err == nil && strings.TrimSpace(st) != "" {
		v += " + uncommitted changes in the working tree"
	}
	return v
}

// vsftpdVersion asks the package manager (vsftpd -v writes to stdin).
func vsftpdVersion(ctx context.Context, bin string) string {
	if out, err := runCmd(ctx, 10*time.Second, nil, "", "dpkg-query", "-W", "-f", "${Version}", "vsftpd"); err == nil {
		return "vsftpd " + strings.TrimSpace(out) + " (Debian package)"
	}
	return bin
}
