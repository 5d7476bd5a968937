package ftp

import (
	"fmt"
	"strconv"
	"strings"
	"time"
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
func (s *session) cmdHASH(arg string) {
	h, ok := s.acct.FS.(Hasher)
	if !ok {
		s.reply(502, "HASH is not supported by this storage.")
		return
	}
	name := s.abs(arg)
	fi, err := s.stat(name)
	if err == nil && fi.IsDir() {
		err = errIsDir
	}
	if err != nil {
		s.replyError(err, "HASH")
		return
	}
	sum, err := h.Hash(s.ctx, name, s.hashAlgo, 0, -1)
	if err != nil {
		s.replyError(err, "HASH")
		return
	}
	s.reply(213, fmt.Sprintf("%s 0-%d %s %s", s.hashAlgo, fi.Size(), sum, name))
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
func xhash(algo string) func(*session, string) {
	return func(s *session, arg string) {
		h, ok := s.acct.FS.(Hasher)
		if !ok {
			s.reply(502, "Not supported by this storage.")
			return
		}
		name, start, end, err := parseXHashArgs(arg)
		if err != nil {
			s.reply(501, "Syntax: X"+strings.ReplaceAll(algo, "-", "")+" path [start [end]].")
			return
		}
		sum, err := h.Hash(s.ctx, s.abs(name), algo, start, end)
		if err != nil {
			s.replyError(err, "X"+algo)
			return
		}
		s.reply(250, strings.ToUpper(sum))
	}
}

// parseXHashArgs splits "path [start [end]]"; a path may contain spaces,
// so trailing numbers are offsets only when there are one or two of them.
func parseXHashArgs(arg string) (name string, start, end int64, err error) {
	end = -1
	f := strings.Fields(arg)
	nums := 0
	for nums < 2 && nums < len(f)-1 {
		if _, err := strconv.ParseInt(f[len(f)-1-nums], 10, 64); err != nil {
			break
		}
		nums++
	}
	if nums > 0 {
		parts := f[len(f)-nums:]
		start, _ = strconv.ParseInt(parts[0], 10, 64)
		if nums == 2 {
			end, _ = strconv.ParseInt(parts[1], 10, 64)
		}
		name = strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(arg), strings.Join(parts, " ")))
	} else {
		name = arg
	}
	if name == "" || start < 0 || (end >= 0 && end < start) {
		return "", 0, 0, fmt.Errorf("bad arguments")
	}
	return name, start, end, nil
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
