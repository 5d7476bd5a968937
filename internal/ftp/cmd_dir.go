package ftp

import (
	"errors"
	"io/fs"
	"path"
	"strconv"
	"strings"
	"time"
)

// abs resolves a client path against the working directory. The result is
// clean and absolute; ".." at the top stays at "/", so no name can leave
// the user's home (the FS is rooted there).
func (s *session) abs(p string) string {
	if !strings.HasPrefix(p, "/") {
		p = s.cwd + "/" + p
	}
	return path.Clean(p)
}

// stat is FS.Stat of a resolved name within the session.
func (s *session) stat(name string) (fs.FileInfo, error) {
	return s.acct.FS.Stat(s.ctx, name)
}

func (s *session) cmdPWD(string) {
	s.reply(257, quote(s.cwd)+" is the current directory.")
}

func (s *session) cmdCWD(arg string) {
	if arg == "" {
		arg = "/"
	}
	dir := s.abs(arg)
	if !s.knownDir(dir) {
		if err := s.statDir(dir); err != nil {
			s.replyError(err, "CWD")
			return
		}
	}
	s.cwd = dir
	s.reply(250, "Directory successfully changed.")
}

func (s *session) cmdCDUP(string) { s.cmdCWD("..") }

func (s *session) cmdMKD(arg string) {
	dir := s.abs(arg)
	err := s.checkParent(dir, true)
	if err == nil {
		err = s.acct.FS.Mkdir(s.ctx, dir)
	}
	if errors.Is(err, errNoParent) {
		err = fs.ErrNotExist // mkdir without -p: 550
	}
	if err != nil {
		s.replyError(err, "MKD")
		return
	}
	s.knowDir(dir)
	s.reply(257, quote(dir)+" created.")
}

func (s *session) cmdRMD(arg string) {
	dir := s.abs(arg)
	if dir == "/" {
		s.reply(550, "Cannot remove the home directory.")
		return
	}
	s.forgetDirs(dir)
	if err := s.acct.FS.Rmdir(s.ctx, dir); err != nil {
		s.replyError(err, "RMD")
		return
	}
	s.reply(250, "Remove directory operation successful.")
}

func (s *session) cmdDELE(arg string) {
	name := s.abs(arg)
	if name == "/" {
		// "DELE .", "DELE a/.." name the home, which no command removes
		// (FuzzDispatch found that it reached FS.Remove).
		s.replyError(errIsDir, "DELE")
		return
	}
	if err := s.acct.FS.Remove(s.ctx, name); err != nil {
		s.replyError(err, "DELE")
		return
	}
	s.reply(250, "Delete operation successful.")
}

func (s *session) cmdRNFR(arg string) {
	from := s.abs(arg)
	if from == "/" {
		s.reply(550, "Cannot rename the home directory.")
		return
	}
	if _, err := s.stat(from); err != nil {
		s.replyError(err, "RNFR")
		return
	}
	s.renameFrom = from
	s.reply(350, "Ready for RNTO.")
}

func (s *session) cmdRNTO(arg string) {
	from, to := s.renameFrom, s.abs(arg)
	switch {
	case from == "":
		s.reply(503, "RNFR required first.")
		return
	case to == "/" || strings.HasPrefix(to+"/", from+"/"):
		s.reply(553, "Cannot move a directory into itself.")
		return
	}
	err := s.checkParent(to, false)
	if errors.Is(err, errNoParent) {
		err = fs.ErrNotExist
	}
	if err == nil {
		s.forgetDirs(from)
		err = s.acct.FS.Rename(s.ctx, from, to)
	}
	if err != nil {
		s.replyError(err, "RNTO")
		return
	}
	s.reply(250, "Rename successful.")
}

// SIZE (RFC 3659 §4): the size of the file RETR would send; 550 for a
// directory. A name with no file but an interrupted upload's partial
// answers the partial's size, so that a client resumes it with REST + STOR
// or APPE as it does against vsftpd (which keeps the partly written file).
//
// A partial never hides a stored file: after an interrupted overwrite
// SIZE is the old file's, as RETR, MLST and LIST describe it. curl reads
// SIZE before RETR to know what to expect; answering the partial's size
// there made it save a truncated file (reported with exit 0; the curl
// tested in test/e2e exits 18). The
// price: a client cannot learn the partial's size of an interrupted
// overwrite, so such an upload starts again instead of resuming (a
// resume at the old file's size is refused, see ErrOverwritePending).
// SIZE changes nothing in the store (a read-only user may send it).
func (s *session) cmdSIZE(arg string) {
	name := s.abs(arg)
	if fz, ok := s.acct.FS.(FileSizer); ok {
		n, err := fz.FileSize(s.ctx, name)
		if err != nil {
			s.replyError(err, "SIZE")
			return
		}
		s.reply(213, strconv.FormatInt(n, 10))
		return
	}
	fi, err := s.stat(name)
	if r, ok := s.acct.FS.(Resumer); ok && errors.Is(err, fs.ErrNotExist) {
		if n, ok, perr := r.PartialSize(s.ctx, name); perr == nil && ok {
			s.reply(213, strconv.FormatInt(n, 10))
			return
		}
	}
	if err == nil && fi.IsDir() {
		err = errIsDir
	}
	if err != nil {
		s.replyError(err, "SIZE")
		return
	}
	s.reply(213, strconv.FormatInt(fi.Size(), 10))
}

// MDTM (RFC 3659 §3): modification time in UTC, YYYYMMDDHHMMSS.
func (s *session) cmdMDTM(arg string) {
	var fi fs.FileInfo
	var err error
	if fst, ok := s.acct.FS.(FileStatter); ok {
		fi, err = fst.StatFile(s.ctx, s.abs(arg))
	} else {
		fi, err = s.stat(s.abs(arg))
	}
	if err == nil && fi.IsDir() {
		err = errIsDir
	}
	if err != nil {
		s.replyError(err, "MDTM")
		return
	}
	s.reply(213, fi.ModTime().UTC().Format(mdtmLayout))
}

// MLST (RFC 3659 §7.2): facts of one path on the control connection.
func (s *session) cmdMLST(arg string) {
	name := s.abs(arg)
	fi, err := s.stat(name)
	if err != nil {
		s.replyError(err, "MLST")
		return
	}
	s.reply(250, "Listing "+name+"\n"+s.mlsxLine(fi, name, time.Now())+"\nEnd")
}
