package s3fs

import (
	"io/fs"
	"path"
	"time"
)

// fileInfo describes an object (file) or a prefix (directory).
type fileInfo struct {
	name string
	size int64
	mod  time.Time // zero for directories without a marker object
	dir  bool
}

var _ fs.FileInfo = (*fileInfo)(nil)

func (fi *fileInfo) Name() string       { return fi.name }
func (fi *fileInfo) Size() int64        { return fi.size }
func (fi *fileInfo) ModTime() time.Time { return fi.mod }
func (fi *fileInfo) IsDir() bool        { return fi.dir }
func (fi *fileInfo) Sys() any           { return nil }

func (fi *fileInfo) Mode() fs.FileMode {
	if fi.dir {
		return fs.ModeDir | 0o755
	}
	return 0o644
}

// baseName is the entry name of an FS name ("/" for the root).
func baseName(name string) string { return path.Base(name) }
