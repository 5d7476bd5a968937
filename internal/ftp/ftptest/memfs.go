// Package ftptest has helpers for testing the protocol core: an in-memory
// FS with S3-like semantics and a server started on loopback.
package ftptest

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"hash"
	"hash/crc32"
	"io"
	"io/fs"
	"path"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/s3ftpd/s3ftpd/internal/ftp"
)

// MemFS is an in-memory ftp.FS: files are whole byte slices that appear at
// Commit, directories exist explicitly (like S3 "dir/" markers) or
// implicitly below a file.
type MemFS struct {
	mu    sync.Mutex
	files map[string]memFile // "/a/b" → content
	dirs  map[string]time.Time
}

type memFile struct {
	data []byte
	mod  time.Time
}

func NewMemFS() *MemFS {
	return &MemFS{files: map[string]memFile{}, dirs: map[string]time.Time{}}
}

type info struct {
	name string
	size int64
	dir  bool
	mod  time.Time
}

func (i info) Name() string { return i.name }
func (i info) Size() int64  { return i.size }
func (i info) Mode() fs.FileMode {
	if i.dir {
		return fs.ModeDir | 0o755
	}
	return 0o644
}
func (i info) ModTime() time.Time { return i.mod }
func (i info) IsDir() bool        { return i.dir }
func (i info) Sys() any           { return nil }

// isDir: explicit, the root, or a prefix of some file or directory. mu held.
func (m *MemFS) isDir(name string) bool {
	if name == "/" {
		return true
	}
	if _, ok := m.dirs[name]; ok {
		return true
	}
	for k := range m.files {
		if strings.HasPrefix(k, name+"/") {
			return true
		}
	}
	for k := range m.dirs {
		if strings.HasPrefix(k, name+"/") {
			return true
		}
	}
	return false
}

func (m *MemFS) Stat(_ context.Context, name string) (fs.FileInfo, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if f, ok := m.files[name]; ok {
		return info{path.Base(name), int64(len(f.data)), false, f.mod}, nil
	}
	if m.isDir(name) {
		return info{path.Base(name), 0, true, m.dirs[name]}, nil
	}
	return nil, fs.ErrNotExist
}

func (m *MemFS) List(ctx context.Context, dir string, yield func(fs.FileInfo) error) error {
	m.mu.Lock()
	if !m.isDir(dir) {
		m.mu.Unlock()
		return fs.ErrNotExist
	}
	prefix := strings.TrimSuffix(dir, "/") + "/"
	seen := map[string]fs.FileInfo{}
	add := func(k string, fi func(string) fs.FileInfo) {
		if !strings.HasPrefix(k, prefix) {
			return
		}
		rest := k[len(prefix):]
		if child, _, nested := strings.Cut(rest, "/"); nested {
			seen[child] = info{child, 0, true, m.dirs[prefix+child]}
		} else if rest != "" {
			seen[rest] = fi(rest)
		}
	}
	for k, f := range m.files {
		add(k, func(n string) fs.FileInfo { return info{n, int64(len(f.data)), false, f.mod} })
	}
	for k, t := range m.dirs {
		add(k, func(n string) fs.FileInfo { return info{n, 0, true, t} })
	}
	m.mu.Unlock()
	names := make([]string, 0, len(seen))
	for n := range seen {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if err := yield(seen[n]); err != nil {
			return err
		}
	}
	return nil
}

func (m *MemFS) Open(_ context.Context, name string, offset int64) (io.ReadCloser, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	f, ok := m.files[name]
	if !ok {
		if m.isDir(name) {
			return nil, fs.ErrInvalid
		}
		return nil, fs.ErrNotExist
	}
	if offset > int64(len(f.data)) {
		return nil, fs.ErrInvalid
	}
	return io.NopCloser(bytes.NewReader(f.data[offset:])), nil
}

func (m *MemFS) Create(_ context.Context, name string) (ftp.Upload, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.isDir(name) {
		return nil, fs.ErrExist
	}
	return &memUpload{fs: m, name: name}, nil
}

type memUpload struct {
	fs   *MemFS
	name string
	buf  bytes.Buffer
	done bool
}

func (u *memUpload) Write(p []byte) (int, error) { return u.buf.Write(p) }

func (u *memUpload) Commit(context.Context) error {
	u.fs.mu.Lock()
	defer u.fs.mu.Unlock()
	u.fs.files[u.name] = memFile{bytes.Clone(u.buf.Bytes()), time.Now()}
	u.done = true
	return nil
}

func (u *memUpload) Abort(context.Context) error { u.done = true; return nil }

func (m *MemFS) Remove(_ context.Context, name string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.files[name]; !ok {
		if m.isDir(name) {
			return fs.ErrInvalid
		}
		return fs.ErrNotExist
	}
	delete(m.files, name)
	return nil
}

func (m *MemFS) Rename(_ context.Context, from, to string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if f, ok := m.files[from]; ok {
		m.files[to] = f
		delete(m.files, from)
		return nil
	}
	if !m.isDir(from) {
		return fs.ErrNotExist
	}
	for k, f := range m.files {
		if strings.HasPrefix(k, from+"/") {
			m.files[to+k[len(from):]] = f
			delete(m.files, k)
		}
	}
	for k, t := range m.dirs {
		if k == from || strings.HasPrefix(k, from+"/") {
			m.dirs[to+k[len(from):]] = t
			delete(m.dirs, k)
		}
	}
	return nil
}

func (m *MemFS) Mkdir(_ context.Context, name string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.files[name]; ok || m.isDir(name) {
		return fs.ErrExist
	}
	m.dirs[name] = time.Now()
	return nil
}

func (m *MemFS) Rmdir(_ context.Context, name string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.isDir(name) {
		return fs.ErrNotExist
	}
	for k := range m.files {
		if strings.HasPrefix(k, name+"/") {
			return ftp.ErrDirNotEmpty
		}
	}
	for k := range m.dirs {
		if strings.HasPrefix(k, name+"/") {
			return ftp.ErrDirNotEmpty
		}
	}
	delete(m.dirs, name)
	return nil
}

// Resume continues name from offset, which must be its size (MemFS keeps
// no partials: an aborted upload leaves nothing).
func (m *MemFS) Resume(_ context.Context, name string, offset int64) (ftp.Upload, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	f, ok := m.files[name]
	if !ok || int64(len(f.data)) != offset {
		return nil, fs.ErrInvalid
	}
	u := &memUpload{fs: m, name: name}
	u.buf.Write(f.data)
	return u, nil
}

func (m *MemFS) PartialSize(context.Context, string) (int64, bool, error) { return 0, false, nil }

// Hash digests bytes [start, end) of name, at most limit of them
// (limit <= 0: any); a stored checksum is never kept.
func (m *MemFS) Hash(ctx context.Context, name, algo string, start, end, limit int64) (string, error) {
	m.mu.Lock()
	f, ok := m.files[name]
	m.mu.Unlock()
	if !ok {
		return "", fs.ErrNotExist
	}
	if end < 0 || end > int64(len(f.data)) {
		end = int64(len(f.data))
	}
	if start > end {
		return "", fs.ErrInvalid
	}
	if limit > 0 && end-start > limit {
		return "", ftp.ErrHashLimit
	}
	if err := ctx.Err(); err != nil {
		return "", err
	}
	var h hash.Hash
	switch algo {
	case ftp.HashSHA256:
		h = sha256.New()
	case ftp.HashSHA1:
		h = sha1.New()
	case ftp.HashMD5:
		h = md5.New()
	case ftp.HashCRC32:
		h = crc32.NewIEEE()
	default:
		return "", ftp.ErrNotSupported
	}
	h.Write(f.data[start:end])
	return hex.EncodeToString(h.Sum(nil)), nil
}

func (m *MemFS) SetModTime(_ context.Context, name string, t time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	f, ok := m.files[name]
	if !ok {
		return fs.ErrNotExist
	}
	f.mod = t
	m.files[name] = f
	return nil
}
