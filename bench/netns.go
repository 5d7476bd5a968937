package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"
	"unsafe"
)

// The measurements run in a private network namespace whose only
// interface is the loopback, when the harness may create one (root):
// rclone serve ftp and SFTPGo bind their passive ports on all addresses
// (goftp.io's server, fclairamb/ftpserverlib; no option to choose), and in
// such a namespace "all addresses" is 127.0.0.1 and ::1. The parent
// process builds what needs the network (s3ftpd, the harness, go install
// of versitygw and rclone, SFTPGo's build), then runs the harness again as
// a child in a new namespace (CLONE_NEWNET); the child starts every
// server, so they all share the namespace and its loopback.

// wantNetns says whether this process should hand the measurements to a
// child in a private network namespace.
func (o options) wantNetns() bool {
	switch o.netns {
	case "yes":
		return true
	case "auto":
		return os.Geteuid() == 0
	}
	return false // "no", "child"
}

// isolated says whether the servers run where the only network is the
// loopback.
func (o options) isolated() bool { return o.netns == "child" }

// runIsolated prepares the binaries, then runs the harness as a child in a
// new network namespace and returns its exit code.
func (h *harness) runIsolated(ctx context.Context, stdout, stderr io.Writer) (int, error) {
	var err error
	h.work, err = os.MkdirTemp("", "s3ftpd-bench-bin-")
	if err != nil {
		return 1, err
	}
	defer os.RemoveAll(h.work)
	if err := h.prepareServer(ctx); err != nil {
		return 1, err
	}
	root, err := moduleRoot(ctx)
	if err != nil {
		return 1, err
	}
	self := filepath.Join(h.work, "bench")
	h.logf("building the harness")
	if out, err := runCmd(ctx, 10*time.Minute, nil, root, "go", "build", "-o", self, "./bench"); err != nil {
		return 1, fmt.Errorf("go build ./bench: %v\n%s", err, out)
	}
	// What needs the network is installed here; the child cannot reach it.
	if h.opt.store != "embedded" {
		if _, err := h.tool(ctx, "versitygw", "github.com/versity/versitygw/cmd/versitygw@"+versitygwVersion); err != nil {
			if h.opt.store == "versitygw" {
				return 1, err
			}
			h.logf("versitygw unavailable, the child uses s3ftpd's embedded store: %v", firstLineOf(err.Error()))
		}
	}
	if h.opt.peers {
		if _, err := h.tool(ctx, "rclone", "github.com/rclone/rclone@"+rcloneVersion); err != nil {
			h.logf("rclone unavailable: %v", firstLineOf(err.Error()))
		}
	}
	var childEnv []string
	if h.opt.peers && h.opt.install {
		if _, err := h.sftpgoBinary(ctx); err != nil {
			h.logf("SFTPGo unavailable: %v", oneLine(err.Error()))
			childEnv = append(childEnv, sftpgoBuildErrEnv+"=build failed: "+oneLine(err.Error()))
		}
	}
	args := append(append([]string(nil), h.opt.args...), childArgs(h.s3ftpdBin)...)
	cmd := exec.Command(self, args...)
	cmd.Stdout, cmd.Stderr = stdout, stderr
	cmd.Env = append(os.Environ(), childEnv...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNET, Pdeathsig: syscall.SIGKILL}
	h.logf("running the measurements in a private network namespace (loopback only)")
	if err := cmd.Start(); err != nil {
		return 1, fmt.Errorf("start the harness in a new network namespace: %w", err)
	}
	pid := cmd.Process.Pid
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err = <-done:
	case <-ctx.Done():
		// The child stops its servers on SIGTERM.
		_ = syscall.Kill(pid, syscall.SIGTERM)
		select {
		case err = <-done:
		case <-time.After(90 * time.Second):
			_ = syscall.Kill(pid, syscall.SIGKILL)
			err = <-done
		}
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode(), nil
	}
	if err != nil {
		return 1, err
	}
	return 0, nil
}

// childArgs is what the parent appends to the user's arguments for the
// child.
func childArgs(server string) []string {
	return []string{"-server", server, "-install=no", "-netns=child"}
}

// tool returns the cached binary name, installing it first when allowed.
func (h *harness) tool(ctx context.Context, name, pkg string) (string, error) {
	bin := filepath.Join(h.opt.cacheDir, name)
	if exists(bin) {
		return bin, nil
	}
	if err := h.install(ctx, name, pkg); err != nil {
		return "", err
	}
	return bin, nil
}

// loopbackUp brings up "lo" in this process's (new) network namespace,
// which gives it 127.0.0.1/8 and ::1.
func loopbackUp() error {
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_DGRAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer syscall.Close(fd)
	// struct ifreq: the name, then a union whose ifr_flags is a short.
	var ifr [40]byte
	copy(ifr[:], "lo")
	flags := (*uint16)(unsafe.Pointer(&ifr[syscall.IFNAMSIZ]))
	if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, uintptr(fd), syscall.SIOCGIFFLAGS, uintptr(unsafe.Pointer(&ifr[0]))); e != 0 {
		return fmt.Errorf("SIOCGIFFLAGS lo: %w", e)
	}
	*flags |= syscall.IFF_UP
	if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, uintptr(fd), syscall.SIOCSIFFLAGS, uintptr(unsafe.Pointer(&ifr[0]))); e != 0 {
		return fmt.Errorf("SIOCSIFFLAGS lo: %w", e)
	}
	return nil
}

// checkOnlyLoopback fails unless every interface of this namespace is a
// loopback one (the child checks before it starts a server).
func checkOnlyLoopback() error {
	ifs, err := netInterfaces()
	if err != nil {
		return err
	}
	for _, i := range ifs {
		if i != "lo" {
			return fmt.Errorf("interface %q in the benchmark's network namespace", i)
		}
	}
	return nil
}

func netInterfaces() ([]string, error) {
	ifs, err := net.Interfaces()
	if err != nil {
		return nil, err
	}
	var names []string
	for _, i := range ifs {
		names = append(names, i.Name)
	}
	return names, nil
}
