//go:build unix

// Package fdlimit raises the open-file limit for the harnesses (bench,
// test/load) that open thousands of connections.
package fdlimit

import "syscall"

// Raise sets the soft RLIMIT_NOFILE to the hard one. Go raises it for its
// own process at start, but only an explicit Setrlimit is inherited by the
// servers a harness starts.
func Raise(logf func(string, ...any)) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		logf("getrlimit: %v", err)
		return
	}
	if lim.Cur < lim.Max {
		lim.Cur = lim.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
			logf("setrlimit: %v", err)
		}
	}
}
