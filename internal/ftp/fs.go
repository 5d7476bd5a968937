package ftp

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"net/netip"
)

// FS is what a session needs of storage. One FS is rooted at a user's home:
// every name it receives is a clean, absolute, slash-separated path inside
// that home ("/" is the home itself, "/a/b.txt" a file below it). The
// session does the path arithmetic (cwd, "..", chroot); an FS never sees a
// relative name or a "..".
//
// Errors follow io/fs: fs.ErrNotExist, fs.ErrExist, fs.ErrPermission,
// fs.ErrInvalid, plus the sentinels below. Any other error is treated as a
// transient local failure (451) and logged, never shown to the client.
type FS interface {
	// Stat describes one file or directory. "/" always exists.
	Stat(ctx context.Context, name string) (fs.FileInfo, error)
	// List calls yield once per entry of dir, in the store's order, as the
	// entries arrive (it must not buffer the whole directory). An error
	// returned by yield stops the listing and is returned. fs.ErrNotExist,
	// before any entry, when dir is no directory (missing, or a file): LIST
	// and MLSD use the listing itself as the existence check.
	List(ctx context.Context, dir string, yield func(fs.FileInfo) error) error
	// Open streams a file starting at byte offset (RFC 3659 REST STREAM).
	Open(ctx context.Context, name string, offset int64) (io.ReadCloser, error)
	// Create starts a new upload to name. Nothing is visible at name until
	// Commit returns nil; Abort (or a failed Commit) leaves the previous
	// file, or nothing, in place.
	Create(ctx context.Context, name string) (Upload, error)
	// Remove deletes a file (not a directory).
	Remove(ctx context.Context, name string) error
	// Rename moves a file or a directory tree.
	Rename(ctx context.Context, from, to string) error
	// Mkdir creates a directory; fs.ErrExist if name exists.
	Mkdir(ctx context.Context, name string) error
	// Rmdir removes an empty directory; ErrDirNotEmpty otherwise.
	Rmdir(ctx context.Context, name string) error
}

// Upload receives the bytes of one STOR. Write may block to apply
// backpressure (a process-wide buffer budget); that is how a slow store
// slows the client down instead of growing memory.
type Upload interface {
	io.Writer
	// Commit makes the whole upload visible at its name, durably. A 226 is
	// only sent after Commit returned nil.
	Commit(ctx context.Context) error
	// Abort discards everything written. It is safe to call after Commit
	// (then it does nothing) and more than once.
	Abort(ctx context.Context) error
}

// Sentinel errors an FS may return (wrapped or not); see replyForError.
var (
	// ErrDirNotEmpty: RMD on a directory that still has entries.
	ErrDirNotEmpty = errors.New("directory not empty")
	// ErrTooLarge: the upload exceeds a size limit of the store (552).
	ErrTooLarge = errors.New("exceeds storage allocation")
	// ErrNotSupported: the store cannot do this operation (502/504).
	ErrNotSupported = errors.New("operation not supported")
	// ErrHashLimit: a HASH would read more bytes than Server.MaxHashBytes
	// allows and no stored checksum answers it (504).
	ErrHashLimit = errors.New("range exceeds the hash limit")
	// ErrChanged: the file changed under the command (another upload
	// committed, or a rename's source was replaced) between the moment the
	// command looked at it and the moment it would have changed it; the
	// store kept what the other client stored (450, RFC 959: file
	// unavailable, try again).
	ErrChanged = errors.New("file changed by another transfer meanwhile")
	// ErrOverwritePending: a resume (REST n + STOR, or APPE) at the size of
	// the stored file while an interrupted overwrite of that file is kept
	// as a partial. The stored file is not the start of what the client
	// sends, so continuing either would mix old and new bytes (554).
	ErrOverwritePending = errors.New("an interrupted overwrite of this file is pending")
	// ErrNameNotAllowed: the store can never hold this name (too long, a
	// forbidden byte); RFC 959 553 "File name not allowed".
	ErrNameNotAllowed = errors.New("file name not allowed by the store")
	// ErrStorageRefused: the store refused the request for a reason a
	// retry will not change (a missing bucket, unknown credentials); 550.
	ErrStorageRefused = errors.New("storage refused the request")
)

// A StoreCoder error carries the store's own error code (S3's
// "AccessDenied"), which the server logs; the client never sees it.
type StoreCoder interface{ StoreCode() string }

// Authenticator checks a login and hands back the account's view of storage.
type Authenticator interface {
	// Login returns ErrBadLogin for an unknown user or a wrong password (the
	// session cannot tell which, and neither can the client). Other errors
	// are logged and answered 421.
	Login(ctx context.Context, req LoginRequest) (*Account, error)
}

// LoginRequest is what a client presented.
type LoginRequest struct {
	User     string
	Password string
	// Client is the real client address (PROXY-derived when behind a LB).
	Client netip.Addr
	// TLS: the control connection is TLS.
	TLS bool
}

// Account is a logged-in user.
type Account struct {
	Name string
	// FS is rooted at the user's home (the chroot).
	FS FS
	// ReadOnly refuses every command that changes storage with 550.
	ReadOnly bool
	// Deny is what the account may not do (550 Permission denied); zero:
	// anything ReadOnly allows.
	Deny Perm
	// TLSRequired: this user's control and data connections must use TLS.
	TLSRequired bool
	// MaxFileSize: an upload may make a file of at most this many bytes
	// (552 beyond); 0: Server.MaxFileSize.
	MaxFileSize int64
	// MaxSessions: logged-in sessions of this user at once on this server
	// (421 beyond); 0: Server.MaxSessionsPerUser.
	MaxSessions int
	// Bandwidth of this user's transfers; zero: Server.Bandwidth.
	Bandwidth Bandwidth
}

// ErrBadLogin is returned by an Authenticator for a failed login.
var ErrBadLogin = errors.New("login incorrect")

// fsOrNil is the account's FS, or nil before login.
func (a *Account) fsOrNil() FS {
	if a == nil {
		return nil
	}
	return a.FS
}
