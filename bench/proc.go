package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// proc is a server process started by the harness. It is always stopped
// by its PID (SIGTERM, then SIGKILL after stopGrace), never by name.
type proc struct {
	name string
	pid  int
	log  string // file holding its stdout and stderr

	exited  chan struct{}
	waitErr error // valid once exited is closed
}

// stopGrace is how long a process gets after SIGTERM before SIGKILL.
const stopGrace = 15 * time.Second

// procs tracks every process the harness started, so that all of them are
// stopped on every way out of run (stopAll is deferred).
type procs struct {
	mu   sync.Mutex
	list []*proc
	dir  string               // where the logs go
	logf func(string, ...any) // progress messages
}

// start runs bin with args; env is added to the harness's environment.
// The process gets its own process group, so a Ctrl-C on the terminal
// reaches only the harness, which then stops it by PID.
func (ps *procs) start(name string, env []string, bin string, args ...string) (*proc, error) {
	logPath := filepath.Join(ps.dir, strings.ReplaceAll(name, " ", "-")+".log")
	lf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = lf, lf
	cmd.Env = append(os.Environ(), env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Setpgid:   true,
		Pdeathsig: syscall.SIGKILL, // if the harness itself is killed
	}
	if err := cmd.Start(); err != nil {
		lf.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &proc{name: name, pid: cmd.Process.Pid, log: logPath, exited: make(chan struct{})}
	go func() {
		p.waitErr = cmd.Wait()
		lf.Close()
		close(p.exited)
	}()
	ps.mu.Lock()
	ps.list = append(ps.list, p)
	ps.mu.Unlock()
	return p, nil
}

// running reports whether p has not exited yet.
func (p *proc) running() bool {
	select {
	case <-p.exited:
		return false
	default:
		return true
	}
}

// stop sends SIGTERM to p's PID, waits up to stopGrace, then SIGKILL.
func (p *proc) stop() error {
	if !p.running() {
		return nil
	}
	_ = syscall.Kill(p.pid, syscall.SIGTERM)
	select {
	case <-p.exited:
		return nil
	case <-time.After(stopGrace):
	}
	_ = syscall.Kill(p.pid, syscall.SIGKILL)
	select {
	case <-p.exited:
	case <-time.After(5 * time.Second):
		return fmt.Errorf("%s (pid %d) did not exit after SIGKILL", p.name, p.pid)
	}
	return fmt.Errorf("%s (pid %d) needed SIGKILL", p.name, p.pid)
}

// stopAll stops every process still running, newest first.
func (ps *procs) stopAll() {
	ps.mu.Lock()
	list := append([]*proc(nil), ps.list...)
	ps.mu.Unlock()
	for i := len(list) - 1; i >= 0; i-- {
		if err := list[i].stop(); err != nil {
			ps.logf("warning: %v", err)
		}
	}
}

// tail returns the last lines of p's log, for error messages.
func (p *proc) tail(lines int) string {
	data, err := os.ReadFile(p.log)
	if err != nil {
		return ""
	}
	all := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(all) > lines {
		all = all[len(all)-lines:]
	}
	return strings.Join(all, "\n")
}

// memStat is the resident memory of a process (/proc/PID/status).
type memStat struct {
	RSS, HWM int64 // bytes: VmRSS (now) and VmHWM (peak since start or the last resetPeak)
}

func readMem(pid int) (memStat, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return memStat{}, err
	}
	defer f.Close()
	var m memStat
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		var dst *int64
		switch k {
		case "VmRSS":
			dst = &m.RSS
		case "VmHWM":
			dst = &m.HWM
		default:
			continue
		}
		n, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		if err != nil {
			return memStat{}, fmt.Errorf("/proc/%d/status %s: %w", pid, k, err)
		}
		*dst = n << 10
	}
	if m.RSS == 0 {
		return m, fmt.Errorf("/proc/%d/status: no VmRSS", pid)
	}
	return m, sc.Err()
}

// resetPeak resets VmHWM to the current RSS (Linux ≥ 4.0: writing 5 to
// /proc/PID/clear_refs).
func resetPeak(pid int) error {
	return os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0)
}

// clockTick is USER_HZ, the unit of utime/stime in /proc/PID/stat; it is
// 100 on every Linux architecture Go supports.
const clockTick = 100

// readCPU returns the CPU time of a process (/proc/PID/stat utime and
// stime, fields 14 and 15) and that of its children it has waited for
// (cutime and cstime, fields 16 and 17).
func readCPU(pid int) (self, reaped time.Duration, err error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, 0, err
	}
	// The command name (field 2) is in parentheses and may hold spaces.
	i := bytes.LastIndexByte(data, ')')
	if i < 0 {
		return 0, 0, errors.New("malformed /proc/PID/stat")
	}
	f := strings.Fields(string(data[i+1:]))
	// f[0] is field 3 (state), so field n is f[n-3].
	if len(f) < 15 {
		return 0, 0, errors.New("short /proc/PID/stat")
	}
	var t [4]int64
	for k := range t {
		if t[k], err = strconv.ParseInt(f[11+k], 10, 64); err != nil {
			return 0, 0, fmt.Errorf("/proc/%d/stat: %w", pid, err)
		}
	}
	tick := func(n int64) time.Duration { return time.Duration(n) * time.Second / clockTick }
	return tick(t[0] + t[1]), tick(t[2] + t[3]), nil
}

// treeCPU returns the CPU time of a server: the process, its live
// descendants and the children they reaped. The descendants count for
// servers that fork a process per session (vsftpd); read it while the
// sessions still live. The Go servers have no children.
func treeCPU(pid int) (time.Duration, error) {
	self, reaped, err := readCPU(pid)
	if err != nil {
		return 0, err
	}
	total := self + reaped
	for _, c := range descendants(pid) {
		if s, r, err := readCPU(c); err == nil {
			total += s + r
		}
	}
	return total, nil
}

// descendants lists pid's live descendant processes (at most 10 000).
func descendants(pid int) []int {
	var out []int
	seen := map[int]bool{pid: true}
	queue := []int{pid}
	for len(queue) > 0 && len(seen) < 10000 {
		p := queue[0]
		queue = queue[1:]
		data, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", p, p))
		if err != nil {
			continue
		}
		for _, c := range strings.Fields(string(data)) {
			cp, err := strconv.Atoi(c)
			if err != nil || seen[cp] {
				continue
			}
			seen[cp] = true
			queue = append(queue, cp)
			out = append(out, cp)
		}
	}
	return out
}

// cpuMeter measures the CPU time several servers spend during one
// operation; "client" is the harness itself (its own threads only).
type cpuMeter struct {
	pids  map[string]int
	start map[string]time.Duration
}

func newCPUMeter(pids map[string]int) *cpuMeter {
	m := &cpuMeter{pids: pids, start: map[string]time.Duration{}}
	for name, pid := range pids {
		m.start[name], _ = m.read(name, pid)
	}
	return m
}

func (m *cpuMeter) read(name string, pid int) (time.Duration, error) {
	if name == "client" {
		self, _, err := readCPU(pid)
		return self, err
	}
	return treeCPU(pid)
}

// since returns the CPU time each process spent since newCPUMeter.
func (m *cpuMeter) since() map[string]time.Duration {
	out := map[string]time.Duration{}
	for name, pid := range m.pids {
		if now, err := m.read(name, pid); err == nil {
			out[name] = now - m.start[name]
		}
	}
	return out
}

// runCmd runs a short helper command (go install, --version) bounded by
// timeout and returns its combined output. On timeout the command is
// interrupted by its PID, then killed after a grace period.
func runCmd(ctx context.Context, timeout time.Duration, env []string, dir, bin string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Dir = dir
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = 10 * time.Second
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil && err != nil {
		err = fmt.Errorf("%s: %w (after %v)", filepath.Base(bin), ctx.Err(), timeout)
	}
	return string(out), err
}
