package ftp

import (
	"context"
	"io/fs"
	"time"
)

// Optional FS capabilities. A session checks for them with a type
// assertion and answers 502/504 for the commands they serve when absent.

// Resumer continues uploads: a resumed STOR (REST n + STOR, RFC 3659 §5)
// and APPE (RFC 959 §4.1.3).
type Resumer interface {
	// Resume starts an upload whose first offset bytes are the ones already
	// stored for name: the resumable partial an interrupted upload left
	// (see PartialSize) or the complete file (append). offset must equal
	// the size of one of them exactly, else fs.ErrInvalid; when a file and
	// a partial of an interrupted overwrite of it both exist, offset equal
	// to the file's size is ErrOverwritePending (which bytes the client
	// means cannot be told). The bytes already stored are not sent again:
	// the store composes the result, and the commit fails with ErrChanged
	// if the file changed since Resume looked at it.
	Resume(ctx context.Context, name string, offset int64) (Upload, error)
	// PartialSize reports the size of the resumable partial upload of name
	// and whether one exists. SIZE answers it for a name that has no file,
	// as vsftpd answers the size of a partly written file, so clients
	// resume with REST + STOR. It changes nothing in the store.
	PartialSize(ctx context.Context, name string) (size int64, ok bool, err error)
}

// FileStatter is what a store implements when describing a file is cheaper
// than telling a file from a directory (on S3 a HEAD, where a directory
// needs a listing too). MDTM uses it: it answers 550 for a directory and
// for nothing alike (RFC 3659 §3).
type FileStatter interface {
	// StatFile describes the file at name; fs.ErrNotExist when there is no
	// file (a directory of that name included).
	StatFile(ctx context.Context, name string) (fs.FileInfo, error)
}

// FileSizer answers SIZE in one call: the size of the file at name or,
// when there is none, of its resumable partial (Resumer.PartialSize);
// fs.ErrNotExist when neither exists (a directory included). A store
// implements it to find both in one round trip.
type FileSizer interface {
	FileSize(ctx context.Context, name string) (int64, error)
}

// Hash algorithms of draft-bryan-ftp-hash, as named in HASH replies.
const (
	HashSHA256 = "SHA-256"
	HashSHA1   = "SHA-1"
	HashMD5    = "MD5"
	HashCRC32  = "CRC32"
)

// Hasher answers HASH and XCRC/XMD5/XSHA1/XSHA256.
type Hasher interface {
	// Hash returns the lowercase hex digest, with algo one of the Hash*
	// constants, of bytes [start, end) of name; end < 0 means to the end.
	// A stored checksum is used where it covers the range, at any size;
	// else the bytes are streamed and hashed, at most limit of them
	// (limit <= 0: no limit): a longer range is ErrHashLimit, found
	// before anything is read. The hash stops when ctx ends (ABOR).
	Hash(ctx context.Context, name, algo string, start, end, limit int64) (string, error)
}

// ModTimeSetter answers MFMT (draft-somers-ftp-mfxx): the modification
// time reported by MDTM, LIST and MLSx from then on.
type ModTimeSetter interface {
	SetModTime(ctx context.Context, name string, t time.Time) error
}
