package ftp

import (
	"errors"
	"io/fs"
	"path"
	"strings"
	"sync"
	"time"
)

// STOR, STOU, APPE, MKD and RNTO into a directory that does not exist are
// refused, as classic servers do (on S3 a key would silently make the
// prefix), and CWD into one is refused. A session remembers for dirMemory
// the directories it has itself just seen exist (entered, created, listed,
// checked) and their parents (a directory that has a subdirectory exists),
// so that an mput into one directory, or going back up with CDUP, costs
// no request. That is the one thing a session reuses from memory: a
// directory removed by someone else within dirMemory is still entered,
// and its listing then answers 550. Files are always asked of the store.
const dirMemory = 30 * time.Second

// errNoParent: the directory an upload would go into does not exist (553,
// as vsftpd answers; MKD and RNTO say 550).
var errNoParent = errors.New("parent directory does not exist")

// knownDirs is the memory of directories seen to exist. The command
// goroutine and a listing's transfer goroutine both use it.
type knownDirs struct {
	mu sync.Mutex
	m  map[string]time.Time
}

// knowDir remembers that dir (and so every parent of it) exists.
func (s *session) knowDir(dir string) {
	k := &s.dirs
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.m == nil || len(k.m) > 1000 {
		k.m = map[string]time.Time{}
	}
	now := time.Now()
	for d := dir; d != "/" && d != "."; d = path.Dir(d) {
		k.m[d] = now
	}
}

// knownDir reports whether dir was seen to exist within dirMemory.
func (s *session) knownDir(dir string) bool {
	if dir == "/" {
		return true
	}
	k := &s.dirs
	k.mu.Lock()
	defer k.mu.Unlock()
	t, ok := k.m[dir]
	return ok && time.Since(t) < dirMemory
}

// forgetDirs forgets dir and what is below it (RMD, RNFR of a directory).
func (s *session) forgetDirs(dir string) {
	k := &s.dirs
	k.mu.Lock()
	defer k.mu.Unlock()
	for d := range k.m {
		if d == dir || strings.HasPrefix(d, dir+"/") {
			delete(k.m, d)
		}
	}
}

// NameChecker is what a store may implement to refuse, before anything
// else is asked, a name it can never hold (ErrNameNotAllowed: 553).
type NameChecker interface {
	CheckName(name string, dir bool) error
}

// checkParent returns nil when name can be made: the store can hold the
// name, and the directory it would go into exists.
func (s *session) checkParent(name string, dir bool) error {
	if nc, ok := s.acct.FS.(NameChecker); ok {
		if err := nc.CheckName(name, dir); err != nil {
			return err
		}
	}
	return s.parentExists(name)
}

func (s *session) parentExists(name string) error {
	dir := path.Dir(name)
	if dir == s.cwd || s.knownDir(dir) {
		return nil // the home, where CWD just checked, or seen just now
	}
	err := s.statDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return errNoParent
	}
	return err
}

// statDir is nil when dir is a directory, errNotDir when it is a file; a
// directory found is remembered.
func (s *session) statDir(dir string) error {
	fi, err := s.stat(dir)
	if err == nil && !fi.IsDir() {
		return errNotDir
	}
	if err == nil {
		s.knowDir(dir)
	}
	return err
}
