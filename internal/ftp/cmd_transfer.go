package ftp

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"time"

	"github.com/s3ftpd/s3ftpd/internal/ftp/wire"
)

// REST (RFC 3659 §5): the byte offset for the next RETR.
func (s *session) cmdREST(arg string) {
	n, ok := wire.ParseREST(arg)
	if !ok {
		s.reply(501, "REST needs a non-negative byte offset.")
		return
	}
	s.rest = n
	s.reply(350, fmt.Sprintf("Restarting at %d. Send STOR or RETR.", n))
}

// takeRest returns and clears the REST offset: it applies to one transfer.
func (s *session) takeRest() int64 {
	n := s.rest
	s.rest = 0
	return n
}

// RETR streams a file (a ranged GET after REST). The file is opened before
// the data connection is used, so a missing file is a plain 550; before
// that, the download's buffer is taken from the budget (downloads.go).
func (s *session) cmdRETR(arg string) {
	name, offset := s.abs(arg), s.takeRest()
	s.startTransfer("RETR", name, func(x *transfer) error {
		// The buffer first: a RETR that waits for one holds no storage
		// stream, and one that gets none is refused (451) before its
		// data connection is opened.
		buf, release, err := s.downloadBuffer(x)
		if err != nil {
			return err
		}
		defer release()
		r, err := s.acct.FS.Open(x.ctx, name, offset)
		if err != nil {
			return err
		}
		x.reader = r
		if sz, ok := r.(interface{ Size() int64 }); ok {
			x.size.Store(sz.Size())
		}
		conn, err := x.openData("Opening " + s.modeName() + " mode data connection for " + name + ".")
		if err != nil {
			return err
		}
		if _, err := copyWith(conn, r, buf); err != nil {
			return err
		}
		// A clean close tells the client the file ended (MODE S).
		if err := conn.Close(); err != nil {
			return fmt.Errorf("%w: %w", errDataLost, err)
		}
		s.reply(226, "Transfer complete.")
		return nil
	})
}

func (s *session) modeName() string {
	if s.binary {
		return "BINARY"
	}
	return "ASCII"
}

// STOR uploads a file. Nothing appears at the name until the whole stream
// arrived and the store committed it; then 226. An aborted or broken
// transfer leaves the previous file, or nothing.
//
// After REST n (RFC 3659 §5.3) it resumes: the first n bytes are the ones
// already stored (an interrupted upload's partial, or the whole file), and
// only the rest is sent.
func (s *session) cmdSTOR(arg string) {
	name, offset := s.abs(arg), s.takeRest()
	if offset == 0 {
		s.store("STOR", name, 0, "Ok to send data.", func(ctx context.Context) (Upload, error) { return s.acct.FS.Create(ctx, name) })
		return
	}
	r, ok := s.acct.FS.(Resumer)
	if !ok {
		s.closePassive()
		s.reply(504, "Resuming an upload (REST before STOR) is not supported by this storage.")
		return
	}
	s.store("STOR", name, offset, fmt.Sprintf("Ok to send data from byte %d.", offset), func(ctx context.Context) (Upload, error) {
		up, err := r.Resume(ctx, name, offset)
		if errors.Is(err, fs.ErrInvalid) {
			err = errBadRestart
		}
		return up, err
	})
}

// APPE (RFC 959 §4.1.3) appends to a file, composed by the store without
// sending the existing bytes again; a missing file is created.
//
// APPE carries no offset, so it appends at the size SIZE reports: the
// file's, or, for a name with no file, its resumable partial's (curl -C -
// resumes an upload with SIZE + APPE). It is REST <that size> + STOR, and
// the store refuses it the same way: while an interrupted overwrite of the
// file is pending, appending to the old file is refused (554, see
// ErrOverwritePending) rather than guessed, because the client computed
// what to send from the old size and its bytes belong after neither the
// old file nor the partial.
func (s *session) cmdAPPE(arg string) {
	name := s.abs(arg)
	s.takeRest()
	r, ok := s.acct.FS.(Resumer)
	if !ok {
		s.closePassive()
		s.reply(502, "APPE is not supported by this storage.")
		return
	}
	s.store("APPE", name, 0, "Ok to send data.", func(ctx context.Context) (Upload, error) {
		fi, err := s.acct.FS.Stat(ctx, name)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			if n, ok, err := r.PartialSize(ctx, name); err == nil && ok {
				return r.Resume(ctx, name, n)
			}
			return s.acct.FS.Create(ctx, name)
		case err != nil:
			return nil, err
		case fi.IsDir():
			return nil, errIsDir
		}
		return r.Resume(ctx, name, fi.Size())
	})
}

// STOU stores under a new unique name (RFC 959 §4.1.3), reported in the
// 150 reply as "FILE: name" (RFC 1123 §4.1.2.9).
func (s *session) cmdSTOU(arg string) {
	s.takeRest()
	base := "stou"
	if arg != "" {
		base = path.Base(s.abs(arg))
	}
	dir := s.cwd
	if arg != "" {
		dir = path.Dir(s.abs(arg))
	}
	for range 5 {
		var b [4]byte
		_, _ = rand.Read(b[:])
		name := path.Join(dir, base+"."+time.Now().UTC().Format("20060102150405")+"."+hex.EncodeToString(b[:]))
		_, err := s.stat(name)
		if errors.Is(err, fs.ErrNotExist) {
			s.store("STOU", name, 0, "FILE: "+path.Base(name), func(ctx context.Context) (Upload, error) { return s.acct.FS.Create(ctx, name) })
			return
		}
		if err != nil {
			s.closePassive()
			s.replyError(err, "STOU")
			return
		}
	}
	s.closePassive()
	s.reply(450, "Could not find a unique name; try again.")
}

// store runs an upload transfer; open makes the Upload, with the
// transfer's context, once the command is known to be valid.
// base is the offset the upload starts at (REST), counted against the
// account's largest file size.
func (s *session) store(verb, name string, base int64, opening string, open func(context.Context) (Upload, error)) {
	if !s.hasDataEndpoint() {
		s.replyError(errNoDataConn, verb)
		return
	}
	if name == "/" {
		s.closePassive()
		s.replyError(errIsDir, verb)
		return
	}
	if err := s.checkParent(name, false); err != nil {
		s.closePassive()
		s.replyError(err, verb)
		return
	}
	s.startTransfer(verb, name, func(x *transfer) error {
		up, err := open(x.ctx)
		if err != nil {
			return err
		}
		x.upload = up // aborted by x.close unless committed
		conn, err := x.openData(opening)
		if err != nil {
			return err
		}
		var src io.Reader = conn
		if max := s.maxFileSize(); max > 0 {
			src = &capReader{r: conn, left: max - base}
		}
		if _, err := io.Copy(up, src); err != nil {
			return err
		}
		x.stopWatch()
		if err := x.confirmEOF(); err != nil {
			return err
		}
		conn.Close() // under PROT P: a clean TLS close, which clients wait for
		// The data connection ended cleanly. If the control connection is
		// gone too, the client vanished (a killed client closes both): a
		// FIN on the data connection does not prove the file is complete,
		// so keep the old object. The peek sees a FIN the command loop
		// has not read yet.
		if err := s.ctx.Err(); err != nil {
			return err
		}
		if peerClosed(s.conn) {
			s.log.Info("client vanished: control connection closed with the data connection; upload discarded", "path", name)
			return errDataLost
		}
		if err := up.Commit(x.ctx); err != nil {
			return err
		}
		s.reply(226, "Transfer complete.")
		return nil
	})
}

// maxFileSize is the account's largest file, else the server's (0: none).
func (s *session) maxFileSize() int64 {
	if s.acct.MaxFileSize > 0 {
		return s.acct.MaxFileSize
	}
	return s.srv.limits().MaxFileSize
}
