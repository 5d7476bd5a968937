package ftp

import (
	"errors"
	"io/fs"
	"path"
	"strings"
	"time"
)

// STOR, STOU, APPE, MKD and RNTO into a directory that does not exist are
// refused, as classic servers do (on S3 a key would silently make the
// prefix). The check is one Stat of the parent, and a session remembers
// for dirMemory the directories it has just seen exist (entered, created,
// listed, checked), so an mput into one directory pays it once.
const dirMemory = 30 * time.Second

// errNoParent: the directory an upload would go into does not exist (553,
// as vsftpd answers; MKD and RNTO say 550).
var errNoParent = errors.New("parent directory does not exist")

// knowDir remembers that dir exists.
func (s *session) knowDir(dir string) {
	if dir == "/" {
		return
	}
	if s.dirs == nil || len(s.dirs) > 1000 {
		s.dirs = map[string]time.Time{}
	}
	s.dirs[dir] = time.Now()
}

// forgetDirs forgets dir and what is below it (RMD, RNFR of a directory).
func (s *session) forgetDirs(dir string) {
	for d := range s.dirs {
		if d == dir || strings.HasPrefix(d, dir+"/") {
			delete(s.dirs, d)
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
	if dir == "/" || dir == s.cwd {
		return nil // the home, or where CWD just checked
	}
	if t, ok := s.dirs[dir]; ok && time.Since(t) < dirMemory {
		return nil
	}
	err := s.statDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return errNoParent
	}
	if err == nil {
		s.knowDir(dir)
	}
	return err
}
