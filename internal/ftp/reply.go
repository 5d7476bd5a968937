package ftp

import (
	"context"
	"errors"
	"io/fs"
	"strconv"
	"strings"
	"time"
)

// reply writes one reply. A text with several lines becomes a multi-line
// reply (RFC 959 §4.2): "code-first", the middle lines indented by a space
// so none can be taken for the end, and "code last".
func (s *session) reply(code int, text string) {
	s.lastCode.Store(int32(code))
	lines := strings.Split(text, "\n")
	var b strings.Builder
	c := strconv.Itoa(code)
	for i, l := range lines {
		l = strings.TrimRight(l, "\r")
		switch {
		case len(lines) == 1:
			b.WriteString(c + " " + l)
		case i == 0:
			b.WriteString(c + "-" + l)
		case i == len(lines)-1:
			b.WriteString(c + " " + l)
		default:
			b.WriteString(" " + l)
		}
		b.WriteString("\r\n")
	}
	s.writeControl(b.String())
}

// writeControl sends raw text on the control connection. Replies come from
// the command goroutine and from a transfer goroutine, so writes are
// serialised.
func (s *session) writeControl(text string) {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if s.wfail {
		return
	}
	_ = s.ctrl.SetWriteDeadline(time.Now().Add(s.srv.IdleTimeout))
	if _, err := s.ctrl.Write([]byte(text)); err != nil {
		s.wfail = true
		s.log.Debug("control write failed", "err", err)
	}
}

// quote doubles the quotes in a path for a 257 reply (RFC 959 Appendix II).
func quote(p string) string { return `"` + strings.ReplaceAll(p, `"`, `""`) + `"` }

// replyError is the one place where an error becomes an FTP reply. The
// client only ever sees a fixed text; the error itself goes to the log.
func (s *session) replyError(err error, what string) {
	code, text := replyFor(err)
	var ct interface{ ClientText() string }
	if errors.As(err, &ct) {
		// The storage composed a text meant for the client (how far a
		// directory rename got); it never carries a store's own message.
		text = ct.ClientText()
	}
	var sc StoreCoder
	switch {
	case code == 452 || errors.Is(err, errDownloadBusy):
		// Shared memory ran out for this client (budget.go): an operator
		// wants to know who, and that it was refused.
		s.log.Warn("refused: no buffer memory free in time", "op", what, "code", code, "err", err)
	case errors.As(err, &sc):
		// A permanent refusal of the store: an operator must act.
		s.log.Warn("storage refused", "op", what, "code", code, "s3_code", sc.StoreCode(), "err", err)
	case code == 451:
		s.log.Warn("storage error", "op", what, "err", err)
	default:
		s.log.Debug("request failed", "op", what, "code", code, "err", err)
	}
	s.reply(code, text)
}

func replyFor(err error) (int, string) {
	switch {
	case errors.Is(err, ErrNameNotAllowed): // RFC 959
		return 553, "File name not allowed."
	case errors.Is(err, ErrStorageRefused):
		return 550, "Requested action not taken: the storage refused the request."
	case errors.Is(err, fs.ErrNotExist):
		return 550, "No such file or directory."
	case errors.Is(err, fs.ErrExist):
		return 550, "File exists."
	case errors.Is(err, fs.ErrPermission):
		return 550, "Permission denied."
	case errors.Is(err, ErrDirNotEmpty):
		return 550, "Directory not empty."
	case errors.Is(err, ErrChanged):
		return 450, "The file was changed by another transfer meanwhile; nothing was changed by this command. Try again."
	case errors.Is(err, ErrOverwritePending):
		// RFC 3659 §5 (554: invalid REST parameter); permanent, so that
		// clients stop instead of retrying the same resume.
		return 554, "An interrupted upload of this file is pending: resuming at the stored file's size would mix old and new bytes. Send the whole file (STOR without REST)."
	case errors.Is(err, errBadRestart):
		return 554, "Invalid REST offset: it must equal the size already stored (see SIZE)."
	case errors.Is(err, errNoParent):
		return 553, "No such directory to store the file in."
	case errors.Is(err, errBadName):
		// RFC 959 §4.2.2: 553 Requested action not taken. File name not allowed.
		return 553, "File name not allowed: names must be UTF-8 without control characters."
	case errors.Is(err, errIsDir):
		return 550, "Is a directory."
	case errors.Is(err, errNotDir):
		return 550, "Not a directory."
	case errors.Is(err, errListFile): // RFC 3659 §7.2: MLSD of a file
		return 501, "MLSD needs a directory; use MLST for a file."
	case errors.Is(err, fs.ErrInvalid):
		return 550, "Requested action not taken."
	case errors.Is(err, ErrTooLarge):
		return 552, "Exceeded storage allocation."
	case errors.Is(err, errDownloadBusy):
		return 451, "Server busy: no download buffer free; try again later."
	case errors.Is(err, ErrBufferBusy): // RFC 959 §4.2
		return 452, "Insufficient storage space: server buffers are busy; try again later."
	case errors.Is(err, ErrHashLimit):
		// draft-bryan-ftp-hash (Security Considerations): a 5yz reply for a
		// file the server's hashing policy does not cover.
		return 504, "Too large to hash in one command; hash it in ranges (XSHA256 path start end)."
	case errors.Is(err, errShuttingDown):
		return 450, "Server shutting down; command abandoned. Try again."
	case errors.Is(err, ErrNotSupported):
		return 504, "Not supported by this server's storage."
	case errors.Is(err, errNoDataConn):
		return 425, "Use PORT, PASV, EPRT or EPSV first."
	case errors.Is(err, ErrNoPassivePort):
		return 425, "No passive port is free for your address; try again later."
	case errors.Is(err, errDataTimeout):
		return 425, "Data connection was not opened in time."
	case errors.Is(err, errNoTLSReuse):
		return 425, "Data connection refused: its TLS session must resume the control connection's."
	case errors.Is(err, errDataTLS):
		return 521, "Data connections must be protected: use PROT P."
	case errors.Is(err, errDataConn):
		return 425, "Cannot open data connection."
	case errors.Is(err, errAborted), errors.Is(err, context.Canceled):
		return 426, "Connection closed; transfer aborted."
	case errors.Is(err, errStalled):
		return 426, "No data moved for too long; transfer aborted."
	case errors.Is(err, errDataLost):
		return 426, "Data connection lost; transfer aborted."
	default:
		return 451, "Local error in processing; try again later."
	}
}

// ErrNoPassivePort is what a PassiveProvider returns when no port is free
// for the client (425).
var ErrNoPassivePort = errors.New("no passive port free")

// Errors of the protocol core itself.
var (
	errIsDir       = errors.New("is a directory")
	errNotDir      = errors.New("not a directory")
	errListFile    = errors.New("MLSD of a file")
	errNoDataConn  = errors.New("no data connection set up")
	errDataTimeout = errors.New("data connection timeout")
	errDataConn    = errors.New("cannot open data connection")
	errAborted     = errors.New("transfer aborted")
	errDataLost    = errors.New("data connection lost")
	errStalled     = errors.New("transfer stalled")
	errNoTLSReuse  = errors.New("data TLS session not resumed")
	errBadRestart  = errors.New("REST offset does not match the stored size")
	errDataTLS     = errors.New("data connection must use TLS")
	// errDownloadBusy wraps ErrBufferBusy for a download (451).
	errDownloadBusy = errors.New("download buffer")
	// errShuttingDown: Shutdown abandoned a command (a HASH) in progress.
	errShuttingDown = errors.New("server shutting down")
)
