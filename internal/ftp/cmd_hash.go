package ftp

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/s3ftpd/s3ftpd/internal/ftp/wire"
)

// hashAlgos are the HASH algorithms (draft-bryan-ftp-hash §3), FEAT order.
var hashAlgos = []string{HashSHA256, HashSHA1, HashMD5, HashCRC32}

func (s *session) hashFeature() string {
	var b strings.Builder
	for i, a := range hashAlgos {
		if i > 0 {
			b.WriteString(";")
		}
		b.WriteString(a)
		if a == s.hashAlgo {
			b.WriteString("*")
		}
	}
	return "HASH " + b.String()
}

// HASH path (draft-bryan-ftp-hash §3): "213 ALGO START-END HASH PATH" with
// the algorithm chosen by OPTS HASH (SHA-256 by default).
//
// Hashing a large file reads all of it from storage, so HASH and the X
// commands run like a transfer (startCommand): ABOR answers at once (426,
// then 226), and QUIT, a vanished client and a drain cancel the read. One
// command reads at most Server.MaxHashBytes; beyond that it is 504 unless a
// stored checksum answers without reading.
func (s *session) cmdHASH(arg string) {
	h, ok := s.acct.FS.(Hasher)
	if !ok {
		s.reply(502, "HASH is not supported by this storage.")
		return
	}
	name, algo := s.abs(arg), s.hashAlgo
	s.startCommand("HASH", name, func(x *transfer) error {
		fi, err := s.acct.FS.Stat(x.ctx, name)
		if err == nil && fi.IsDir() {
			err = errIsDir
		}
		if err != nil {
			return err
		}
		sum, err := h.Hash(x.ctx, name, algo, 0, -1, s.srv.limits().MaxHashBytes)
		if err != nil {
			return s.hashError(err)
		}
		s.reply(213, fmt.Sprintf("%s 0-%d %s %s", algo, fi.Size(), sum, name))
		return nil
	})
}

// hashError gives ErrHashLimit a reply text that names the limit.
func (s *session) hashError(err error) error {
	if errors.Is(err, ErrHashLimit) {
		return &hashLimitError{err: err, limit: s.srv.limits().MaxHashBytes}
	}
	return err
}

type hashLimitError struct {
	err   error
	limit int64
}

func (e *hashLimitError) Error() string { return e.err.Error() }
func (e *hashLimitError) Unwrap() error { return e.err }

// ClientText is the 504 reply text.
func (e *hashLimitError) ClientText() string {
	return fmt.Sprintf("Too large to hash in one command (at most %d bytes); hash it in ranges: XSHA256 path start end.", e.limit)
}

// optsHash is OPTS HASH [algo]: query or select the HASH algorithm.
func (s *session) optsHash(value string) {
	value = strings.ToUpper(strings.TrimSpace(value))
	if value == "" {
		s.reply(200, s.hashAlgo)
		return
	}
	for _, a := range hashAlgos {
		if a == value {
			s.hashAlgo = a
			s.reply(200, a)
			return
		}
	}
	s.reply(501, "Unknown algorithm; use one of "+strings.Join(hashAlgos, ", ")+".")
}

// XCRC/XMD5/XSHA1/XSHA256 "path [start [end]]" are the older, unofficial
// hash commands many clients send; the reply is 250 and the hex digest.
// They run as HASH does (see cmdHASH).
func xhash(algo string) func(*session, string) {
	verb := "X" + strings.ReplaceAll(algo, "-", "")
	if algo == HashCRC32 {
		verb = "XCRC"
	}
	return func(s *session, arg string) {
		h, ok := s.acct.FS.(Hasher)
		if !ok {
			s.reply(502, "Not supported by this storage.")
			return
		}
		name, start, end, err := wire.ParseRange(arg)
		if err != nil {
			s.reply(501, "Syntax: "+verb+" path [start [end]].")
			return
		}
		name = s.abs(name)
		s.startCommand(verb, name, func(x *transfer) error {
			sum, err := h.Hash(x.ctx, name, algo, start, end, s.srv.limits().MaxHashBytes)
			if err != nil {
				return s.hashError(err)
			}
			s.reply(250, strings.ToUpper(sum))
			return nil
		})
	}
}

// MFMT YYYYMMDDHHMMSS path (draft-somers-ftp-mfxx §3): set the time MDTM
// and listings report.
func (s *session) cmdMFMT(arg string) {
	m, ok := s.acct.FS.(ModTimeSetter)
	if !ok {
		s.reply(502, "MFMT is not supported by this storage.")
		return
	}
	stamp, name, found := strings.Cut(arg, " ")
	t, err := time.Parse(mdtmLayout, strings.Split(stamp, ".")[0])
	if !found || err != nil || name == "" {
		s.reply(501, "Syntax: MFMT YYYYMMDDHHMMSS path.")
		return
	}
	name = s.abs(name)
	if err := m.SetModTime(s.ctx, name, t.UTC()); err != nil {
		s.replyError(err, "MFMT")
		return
	}
	s.reply(213, "Modify="+t.UTC().Format(mdtmLayout)+"; "+name)
}
