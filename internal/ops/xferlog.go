package ops

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/s3ftpd/s3ftpd/internal/ftp"
)

// XferLog writes one line per file transfer in the wu-ftpd xferlog format
// that vsftpd and proftpd also write (xferlog(5)), so existing log tooling
// keeps working:
//
//	current-time transfer-time remote-host file-size filename transfer-type
//	special-action-flag direction access-mode username service-name
//	authentication-method authenticated-user-id completion-status
//
// e.g. "Wed Dec  2 04:57:27 2026 1 203.0.113.9 3145728 /in/a.csv b _ i r
// alice ftp 0 * c". Whitespace in names becomes "_" (the format is split on
// blanks). Listings are not file transfers and are not written. Reopen
// (SIGHUP) lets logrotate move the file away.
type XferLog struct {
	path string
	mu   sync.Mutex
	f    *os.File
}

// OpenXferLog opens (appends to, creating) the file at path, made
// absolute now: the embedded store changes the working directory later.
func OpenXferLog(path string) (*XferLog, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	l := &XferLog{path: abs}
	return l, l.Reopen()
}

// Reopen closes the file and opens path again.
func (l *XferLog) Reopen() error {
	f, err := os.OpenFile(l.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
	if err != nil {
		return err
	}
	l.mu.Lock()
	old := l.f
	l.f = f
	l.mu.Unlock()
	if old != nil {
		return old.Close()
	}
	return nil
}

// Close closes the file.
func (l *XferLog) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.f.Close()
}

// TransferDone implements ftp.Observer.
func (l *XferLog) TransferDone(t ftp.TransferStat) {
	dir := "o"
	switch {
	case t.Upload:
		dir = "i"
	case t.Verb != "RETR":
		return
	}
	typ, status := "a", "i"
	if t.Binary {
		typ = "b"
	}
	if t.Code == 226 {
		status = "c"
	}
	secs := int64((t.Duration + time.Second - 1) / time.Second) // whole seconds, rounded up
	line := fmt.Sprintf("%s %d %s %d %s %s _ %s r %s ftp 0 * %s\n", time.Now().Format("Mon Jan _2 15:04:05 2006"),
		secs, t.Client, t.Bytes, strings.Join(strings.Fields(t.Path), "_"), typ, dir, orStar(t.User), status)
	l.mu.Lock()
	defer l.mu.Unlock()
	_, _ = l.f.WriteString(line)
}

func orStar(s string) string {
	if s == "" {
		return "*"
	}
	return strings.Join(strings.Fields(s), "_")
}

// The other ftp.Observer events are not transfers.
func (l *XferLog) SessionStarted()         {}
func (l *XferLog) SessionEnded()           {}
func (l *XferLog) LoginDone(bool)          {}
func (l *XferLog) CommandDone(string, int) {}
