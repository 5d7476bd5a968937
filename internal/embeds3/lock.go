package embeds3

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// lockDir takes an exclusive, non-blocking flock on base/.lock, so that two
// processes never run a store on one directory: the second one's start-up
// clean-up would delete the first one's in-flight temporary files. The
// kernel drops the lock when the process dies, kill -9 included.
func lockDir(base string) (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(base, ".lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("embeds3: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("embeds3: data directory %s is in use by another s3ftpd process (%s is locked): %w", base, f.Name(), err)
	}
	return f, nil
}
