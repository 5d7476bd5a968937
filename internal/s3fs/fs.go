package s3fs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/netip"
	"path"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/s3ftpd/s3ftpd/internal/ftp"
)

// tmpDirName is versitygw's per-bucket temporary directory. Its posix
// backend stores uploads in progress there and hides every directory of
// that name, at any depth, from listings: a file under it would be
// invisible (or clash with the gateway's own files), so such names are
// refused everywhere.
const tmpDirName = ".sgwtmp"

// fsys is one user's view of a Store, rooted at the key prefix root.
type fsys struct {
	s     *Store
	root  string      // key of the home directory; "" for the bucket root
	props objectProps // of the objects this user stores
	own   *ownObjects // what this session just stored (own.go)
	// user and client are whom the upload buffer budget counts this
	// user's uploads under ("" and invalid: nobody, only the upload's own
	// cap applies).
	user   string
	client netip.Addr
}

var _ ftp.FS = (*fsys)(nil)

// key maps a clean absolute FS name to its object key.
func (f *fsys) key(op, name string) (string, error) {
	if !strings.HasPrefix(name, "/") || path.Clean(name) != name {
		return "", fmt.Errorf("s3fs: %s %q: not a clean absolute name: %w", op, name, fs.ErrInvalid)
	}
	rel := name[1:]
	for _, c := range strings.Split(rel, "/") {
		if c == tmpDirName {
			return "", fmt.Errorf("s3fs: %s %s: reserved name: %w", op, name, fs.ErrPermission)
		}
	}
	key := joinKey(f.root, rel)
	if why := badName(rel, key, op == "mkdir"); why != "" {
		if creates(op) {
			return "", fmt.Errorf("s3fs: %s %q: %s: %w", op, name, why, ftp.ErrNameNotAllowed)
		}
		// Nothing can exist under a name the store cannot hold.
		return "", fmt.Errorf("s3fs: %s %q: %s: %w", op, name, why, fs.ErrNotExist)
	}
	if key == f.s.partialRoot || strings.HasPrefix(key, f.s.partialRoot+"/") {
		return "", fmt.Errorf("s3fs: %s %s: reserved name: %w", op, name, fs.ErrPermission)
	}
	return key, nil
}

// S3 and file-system limits on names (versitygw keeps keys as paths).
const (
	maxKeyLen       = 1024 // bytes of an S3 key
	maxComponentLen = 255  // bytes of a path component (NAME_MAX)
)

// badName says why the store can never hold the name rel (key with the
// prefix and home), or "" when it can. A directory's key carries a
// trailing slash.
func badName(rel, key string, dir bool) string {
	n := len(key)
	if dir {
		n++
	}
	switch {
	case strings.IndexByte(rel, 0) >= 0:
		return "NUL byte in name"
	case n > maxKeyLen:
		return fmt.Sprintf("key of %d bytes, over S3's %d", n, maxKeyLen)
	}
	for _, c := range strings.Split(rel, "/") {
		if len(c) > maxComponentLen {
			return fmt.Sprintf("path component of %d bytes, over %d", len(c), maxComponentLen)
		}
	}
	return ""
}

// creates reports the operations that make a name: a name the store
// cannot hold is refused for them with 553 (RFC 959 "File name not
// allowed"); any other operation simply finds nothing there.
// CheckName implements ftp.NameChecker: ErrNameNotAllowed for a name the
// store can never hold, without a request.
func (f *fsys) CheckName(name string, dir bool) error {
	op := "create"
	if dir {
		op = "mkdir"
	}
	_, err := f.key(op, name)
	if errors.Is(err, ftp.ErrNameNotAllowed) {
		return err
	}
	return nil
}

func creates(op string) bool {
	switch op {
	case "create", "mkdir", "resume", "rename to":
		return true
	}
	return false
}

// dirPrefix is the listing prefix of a directory key.
func dirPrefix(key string) string {
	if key == "" {
		return ""
	}
	return key + "/"
}

func notExist(op, name string) error {
	return fmt.Errorf("s3fs: %s %s: %w", op, name, fs.ErrNotExist)
}

// Stat describes a file (HeadObject) or a directory (a marker or anything
// under its prefix). Both are asked at once: one round trip whichever it
// is. The file wins when both exist (S3, not versitygw, allows a file "x"
// beside keys under "x/"), as in List.
func (f *fsys) Stat(ctx context.Context, name string) (fs.FileInfo, error) {
	key, err := f.key("stat", name)
	if err != nil {
		return nil, err
	}
	if name == "/" {
		return &fileInfo{name: "/", dir: true}, nil
	}
	var dir *fileInfo
	var derr error
	done := make(chan struct{})
	go func() {
		defer close(done)
		dir, derr = f.s.statDir(ctx, key, name)
	}()
	fi, err := f.s.headFile(ctx, key, name)
	<-done
	switch {
	case err == nil:
		return fi, nil
	case !isNotFound(err):
		return nil, mapErr("stat", name, err)
	case derr != nil:
		return nil, mapErr("stat", name, derr)
	case dir == nil:
		return nil, notExist("stat", name)
	}
	return dir, nil
}

var _ ftp.FileStatter = (*fsys)(nil)

// StatFile describes the file at name with one HeadObject; a directory is
// fs.ErrNotExist (ftp.FileStatter: SIZE and MDTM answer 550 either way, so
// they need not list).
func (f *fsys) StatFile(ctx context.Context, name string) (fs.FileInfo, error) {
	key, err := f.key("stat", name)
	if err != nil {
		return nil, err
	}
	if name == "/" {
		return nil, fmt.Errorf("s3fs: stat /: not a file: %w", fs.ErrNotExist)
	}
	if o, ok := f.own.get(key); ok && o.mtimeSet {
		return &fileInfo{name: baseName(name), size: o.size, mod: o.mtime}, nil
	}
	fi, err := f.s.headFile(ctx, key, name)
	if err != nil {
		return nil, mapErr("stat", name, err)
	}
	return fi, nil
}

// headFile stats the object key.
func (s *Store) headFile(ctx context.Context, key, name string) (*fileInfo, error) {
	out, err := s.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(key)})
	if err != nil {
		return nil, err
	}
	return &fileInfo{name: baseName(name), size: aws.ToInt64(out.ContentLength), mod: modTime(out)}, nil
}

// statDir returns the directory at key, or nil if nothing is under it. Its
// time is the marker object's, when there is one (it sorts first).
func (s *Store) statDir(ctx context.Context, key, name string) (*fileInfo, error) {
	prefix := dirPrefix(key)
	out, err := s.client.ListObjectsV2(ctx, &s3.ListObjectsV2Input{
		Bucket: aws.String(s.bucket), Prefix: aws.String(prefix), MaxKeys: aws.Int32(1),
	})
	if err != nil {
		return nil, err
	}
	if len(out.Contents) == 0 && len(out.CommonPrefixes) == 0 {
		return nil, nil
	}
	fi := &fileInfo{name: baseName(name), dir: true}
	if len(out.Contents) > 0 && aws.ToString(out.Contents[0].Key) == prefix {
		fi.mod = aws.ToTime(out.Contents[0].LastModified)
	}
	return fi, nil
}

var _ ftp.FileSizer = (*fsys)(nil)

// FileSize answers SIZE (ftp.FileSizer): the file's size or, when there is
// none, its resumable partial's (see PartialSize), in one round trip: the
// object's HEAD and, only when a partial may exist (markers.go), the
// marker's go out together. A file this session just stored is answered
// from memory (own.go). It changes nothing in the store.
func (f *fsys) FileSize(ctx context.Context, name string) (int64, error) {
	key, err := f.key("size", name)
	if err != nil {
		return 0, err
	}
	if name == "/" {
		return 0, notExist("size", name)
	}
	if o, ok := f.own.get(key); ok {
		return o.size, nil
	}
	obj, p, err := f.s.lookup(ctx, key, false)
	switch {
	case err != nil:
		return 0, mapErr("size", name, err)
	case obj != nil:
		return aws.ToInt64(obj.ContentLength), nil
	case p != nil:
		return p.size, nil
	}
	return 0, notExist("size", name)
}

// Open streams a file from offset (RFC 3659 REST STREAM).
// sizedBody is a download that knows how many bytes it will give (for the
// status page's progress bar).
type sizedBody struct {
	io.ReadCloser
	size int64
}

func (b sizedBody) Size() int64 { return b.size }

func (f *fsys) Open(ctx context.Context, name string, offset int64) (io.ReadCloser, error) {
	key, err := f.key("open", name)
	if err != nil {
		return nil, err
	}
	if name == "/" || offset < 0 {
		return nil, fmt.Errorf("s3fs: open %s at %d: %w", name, offset, fs.ErrInvalid)
	}
	in := &s3.GetObjectInput{Bucket: aws.String(f.s.bucket), Key: aws.String(key)}
	if offset > 0 {
		in.Range = aws.String(fmt.Sprintf("bytes=%d-", offset))
	}
	out, err := f.s.client.GetObject(ctx, in)
	if err == nil {
		return sizedBody{f.s.resumingBody(ctx, key, offset, out), aws.ToInt64(out.ContentLength)}, nil
	}
	if offset > 0 && isInvalidRange(err) {
		// S3 answers 416 for a range starting at the size; resuming a
		// complete download is legal and reads nothing.
		fi, herr := f.s.headFile(ctx, key, name)
		if herr != nil {
			return nil, mapErr("open", name, herr)
		}
		if offset == fi.size {
			return http.NoBody, nil
		}
		return nil, fmt.Errorf("s3fs: open %s at %d beyond size %d: %w", name, offset, fi.size, fs.ErrInvalid)
	}
	return nil, mapErr("open", name, err)
}

// Create starts an upload; nothing is visible at name before Commit.
func (f *fsys) Create(ctx context.Context, name string) (ftp.Upload, error) {
	key, err := f.key("create", name)
	if err != nil {
		return nil, err
	}
	if name == "/" {
		return nil, fmt.Errorf("s3fs: create /: %w", fs.ErrInvalid)
	}
	f.own.forget(key) // whatever the upload leaves (an abort may store what arrived)
	return ownUpload{f.newUpload(ctx, name, key), f.own}, nil
}

// Remove deletes a file and its resumable partial, if any (DELE of a
// file whose upload broke removes what was received, as on a disk). S3
// deletes succeed for missing keys, so the file is looked up first.
func (f *fsys) Remove(ctx context.Context, name string) error {
	key, err := f.key("remove", name)
	if err != nil {
		return err
	}
	if name == "/" {
		return fmt.Errorf("s3fs: remove /: %w", fs.ErrInvalid)
	}
	f.own.forget(key)
	obj, p, err := f.s.lookup(ctx, key, true)
	if err != nil {
		return mapErr("remove", name, err)
	}
	hadPartial, err := f.removePartial(ctx, key, p)
	if err != nil {
		return mapErr("remove", name, err)
	}
	if obj == nil {
		if hadPartial {
			return nil
		}
		if fi, derr := f.s.statDir(ctx, key, name); derr == nil && fi != nil {
			return fmt.Errorf("s3fs: remove %s: is a directory: %w", name, fs.ErrInvalid)
		}
		return notExist("remove", name)
	}
	_, err = f.s.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(f.s.bucket), Key: aws.String(key)})
	return mapErr("remove", name, err)
}

// removePartial discards key's partial p (nil: none); it reports whether
// there was one.
func (f *fsys) removePartial(ctx context.Context, key string, p *partialState) (bool, error) {
	if p == nil {
		return false, nil
	}
	if p.uploadID != "" && f.s.live.hasID(p.uploadID) {
		return false, errBusy
	}
	f.s.discardPartial(ctx, key, p)
	return true, nil
}

// Mkdir writes the "name/" marker object. The parent must be a directory
// (as with mkdir(2); S3 itself would not care).
func (f *fsys) Mkdir(ctx context.Context, name string) error {
	key, err := f.key("mkdir", name)
	if err != nil {
		return err
	}
	if name == "/" {
		return fmt.Errorf("s3fs: mkdir /: %w", fs.ErrExist)
	}
	// The name and its parent are looked at together: one round trip.
	var pfi fs.FileInfo
	var perr error
	done := make(chan struct{})
	go func() {
		defer close(done)
		if parent := path.Dir(name); parent != "/" {
			pfi, perr = f.Stat(ctx, parent)
		}
	}()
	_, err = f.Stat(ctx, name)
	<-done
	switch {
	case err == nil:
		return fmt.Errorf("s3fs: mkdir %s: %w", name, fs.ErrExist)
	case classify(err) != fs.ErrNotExist:
		return err
	case perr != nil:
		return perr
	case pfi != nil && !pfi.IsDir():
		return fmt.Errorf("s3fs: mkdir %s: parent is a file: %w", name, fs.ErrNotExist)
	}
	_, err = f.s.client.PutObject(ctx, &s3.PutObjectInput{
		Bucket: aws.String(f.s.bucket), Key: aws.String(key + "/"), ContentLength: aws.Int64(0),
	})
	return mapErr("mkdir", name, err)
}

// Rmdir removes an empty directory, i.e. its marker object.
func (f *fsys) Rmdir(ctx context.Context, name string) error {
	key, err := f.key("rmdir", name)
	if err != nil {
		return err
	}
	if name == "/" {
		return fmt.Errorf("s3fs: rmdir /: %w", fs.ErrPermission)
	}
	prefix := key + "/"
	out, err := f.s.client.ListObjectsV2(ctx, &s3.ListObjectsV2Input{
		Bucket: aws.String(f.s.bucket), Prefix: aws.String(prefix), MaxKeys: aws.Int32(2),
	})
	if err != nil {
		return mapErr("rmdir", name, err)
	}
	if len(out.Contents) == 0 {
		return notExist("rmdir", name)
	}
	for _, o := range out.Contents {
		if aws.ToString(o.Key) != prefix {
			return fmt.Errorf("s3fs: rmdir %s: %w", name, ftp.ErrDirNotEmpty)
		}
	}
	_, err = f.s.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(f.s.bucket), Key: aws.String(prefix)})
	return mapErr("rmdir", name, err)
}
