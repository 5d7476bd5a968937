package ftp

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"path"
	"strconv"
	"strings"
	"time"
)

const mdtmLayout = "20060102150405"

// allFacts are the MLSx facts we provide (RFC 3659 §7.5), in FEAT order.
var allFacts = []string{"type", "size", "modify", "perm"}

func mlstFeature(selected []string) string {
	var b strings.Builder
	for _, f := range allFacts {
		b.WriteString(f)
		for _, s := range selected {
			if s == f {
				b.WriteString("*")
			}
		}
		b.WriteString(";")
	}
	return b.String()
}

// listArg drops ls-style options ("-la") that clients put before the path.
func listArg(arg string) string {
	for strings.HasPrefix(arg, "-") {
		_, rest, _ := strings.Cut(arg, " ")
		arg = strings.TrimLeft(rest, " ")
	}
	return arg
}

// listing is how a directory's entries are written on a data connection.
type listing func(w *bufio.Writer, fi fs.FileInfo) error

// LIST: ls -l style lines (what clients expect after "UNIX Type: L8").
func (s *session) cmdLIST(arg string) {
	now := time.Now()
	s.list("LIST", listArg(arg), func(w *bufio.Writer, fi fs.FileInfo) error {
		_, err := w.WriteString(s.lsLine(fi, now) + "\r\n")
		return err
	})
}

// NLST: names only, never "." or "..". With an argument, each name carries
// the argument as given as its prefix (as vsftpd and proftpd do).
func (s *session) cmdNLST(arg string) {
	arg = listArg(arg)
	prefix := ""
	if dir, _, ok := globbed(arg); ok {
		prefix = dir // "sub/*.csv" lists "sub/a.csv"
	} else if arg != "" {
		prefix = strings.TrimSuffix(arg, "/") + "/"
	}
	s.listWith("NLST", arg, func(w *bufio.Writer, fi fs.FileInfo) error {
		_, err := w.WriteString(prefix + fi.Name() + "\r\n")
		return err
	}, func(w *bufio.Writer, fi fs.FileInfo) error {
		_, err := w.WriteString(arg + "\r\n")
		return err
	})
}

// MLSD (RFC 3659 §7): machine-readable facts per entry; a file argument is
// an error (501), since MLSD lists directories only.
func (s *session) cmdMLSD(arg string) {
	dir := s.abs(arg)
	now := time.Now()
	s.sendListing("MLSD", dir, func(w *bufio.Writer, fi fs.FileInfo) error {
		_, err := w.WriteString(s.mlsxLine(fi, fi.Name(), now) + "\r\n")
		return err
	}, nil)
}

func (s *session) list(verb, arg string, line listing) {
	s.listWith(verb, arg, line, line)
}

// listWith lists a directory (dirLine per entry) or one file (fileLine).
// A pattern in the last element lists the matching entries of its
// directory.
func (s *session) listWith(verb, arg string, dirLine, fileLine listing) {
	if dir, pattern, ok := globbed(arg); ok {
		s.listMatching(verb, dir, pattern, dirLine)
		return
	}
	s.sendListing(verb, s.abs(arg), dirLine, fileLine)
}

// globbed splits arg into its directory part (as given, "" or ending in
// "/") and a shell pattern (path.Match: * ? [...]) in its last element, as
// vsftpd and proftpd expand "NLST *.csv" and "LIST *.txt" — what mget in
// Windows ftp.exe and classic ftp scripts sends. ok false: no pattern, or a
// malformed one (then the argument is a plain name).
func globbed(arg string) (dir, pattern string, ok bool) {
	i := strings.LastIndex(arg, "/")
	dir, pattern = arg[:i+1], arg[i+1:]
	if !strings.ContainsAny(pattern, "*?[") {
		return "", "", false
	}
	if _, err := path.Match(pattern, ""); err != nil {
		return "", "", false
	}
	return dir, pattern, true
}

// listMatching lists the entries of dir whose names match pattern; none
// matching is an empty listing.
func (s *session) listMatching(verb, dir, pattern string, line listing) {
	s.sendListing(verb, s.abs(dir), func(w *bufio.Writer, fi fs.FileInfo) error {
		if ok, _ := path.Match(pattern, fi.Name()); !ok {
			return nil
		}
		return line(w, fi)
	}, nil)
}

// sendListing streams the listing of dir on the data connection as the
// store pages it in: nothing holds the whole directory.
//
// The existence check is the listing itself: the data connection is
// accepted (and 150 sent) only once the store's first answer is in, so a
// missing directory is a plain 550 and an existing one costs one round
// trip, not a Stat and then a listing. When dir is not a directory, it is
// looked up: a file is listed as one line with fileLine (LIST, NLST), or
// refused with 501 when fileLine is nil (MLSD lists directories only).
func (s *session) sendListing(verb, dir string, line, fileLine listing) {
	s.startTransfer(verb, dir, func(x *transfer) error {
		var conn net.Conn
		var w *bufio.Writer
		open := func() (*bufio.Writer, error) {
			c, err := x.openData("Here comes the directory listing.")
			if err != nil {
				return nil, err
			}
			conn, w = c, bufio.NewWriterSize(c, 16<<10)
			return w, nil
		}
		defer func() {
			if conn != nil {
				conn.Close()
			}
		}()
		err := s.acct.FS.List(x.ctx, dir, func(fi fs.FileInfo) error {
			if w == nil {
				if _, err := open(); err != nil {
					return err
				}
			}
			return line(w, fi)
		})
		isDir := err == nil
		switch {
		case err == nil && w == nil:
			_, err = open() // an empty directory
		case errors.Is(err, fs.ErrNotExist) && w == nil:
			isDir, err = s.listFile(x.ctx, dir, fileLine, open)
		}
		if err == nil && isDir {
			s.knowDir(dir)
		}
		if err == nil && w != nil {
			err = w.Flush()
		}
		if err != nil {
			return err
		}
		s.reply(226, "Directory send OK.")
		return nil
	})
}

// listFile lists name, which the listing found to be no directory: one
// line if it is a file and fileLine is set, else the reason (a directory
// made meanwhile is listed empty). dir reports a directory.
func (s *session) listFile(ctx context.Context, name string, fileLine listing, open func() (*bufio.Writer, error)) (dir bool, err error) {
	fi, err := s.acct.FS.Stat(ctx, name)
	switch {
	case err != nil:
		return false, err
	case fi.IsDir():
		_, err = open()
		return true, err
	case fileLine == nil:
		return false, errListFile
	}
	w, err := open()
	if err != nil {
		return false, err
	}
	return false, fileLine(w, fi)
}

// statPath answers "STAT path" (RFC 959 §4.1.3) with an ls-style listing
// on the control connection, streamed like LIST.
func (s *session) statPath(arg string) {
	name := s.abs(listArg(arg))
	fi, err := s.stat(name)
	if err != nil {
		s.replyError(err, "STAT")
		return
	}
	now := time.Now()
	s.writeControl("213-Status of " + name + ":\r\n")
	if !fi.IsDir() {
		s.writeControl(" " + s.lsLine(fi, now) + "\r\n")
	} else {
		err = s.acct.FS.List(s.ctx, name, func(fi fs.FileInfo) error {
			s.writeControl(" " + s.lsLine(fi, now) + "\r\n")
			return nil
		})
	}
	if err != nil {
		s.log.Warn("STAT listing failed", "err", err)
		s.reply(213, "End of status (listing incomplete: storage error).")
		return
	}
	s.reply(213, "End of status.")
}

// lsLine formats like "ls -l": recent times with hour:minute, older ones
// (over six months) with the year.
func (s *session) lsLine(fi fs.FileInfo, now time.Time) string {
	mode := "-rw-r--r--"
	if fi.IsDir() {
		mode = "drwxr-xr-x"
	}
	if s.acct.ReadOnly {
		mode = strings.ReplaceAll(mode, "w", "-")
	}
	t := modTime(fi, now)
	stamp := t.Format("Jan _2 15:04")
	if age := now.Sub(t); age > 182*24*time.Hour || age < -time.Hour {
		stamp = t.Format("Jan _2  2006")
	}
	return fmt.Sprintf("%s 1 ftp ftp %12d %s %s", mode, fi.Size(), stamp, fi.Name())
}

// modTime is the entry's time in UTC. An S3 prefix (a directory) has no
// time of its own: it shows now, the time of the listing, in LIST and in
// MLSD/MLST alike — strict MLSD parsers want modify on every entry.
func modTime(fi fs.FileInfo, now time.Time) time.Time {
	if t := fi.ModTime(); !t.IsZero() {
		return t.UTC()
	}
	return now.UTC()
}

// mlsxLine is "fact=value;...; name" (RFC 3659 §7.2, §7.5): MLSD gives the
// entry name, MLST the path it was asked about. Every entry carries the
// facts asked for (OPTS MLST), directories and / included.
func (s *session) mlsxLine(fi fs.FileInfo, name string, now time.Time) string {
	var b strings.Builder
	for _, f := range s.mlstFacts {
		switch f {
		case "type":
			if fi.IsDir() {
				b.WriteString("type=dir;")
			} else {
				b.WriteString("type=file;")
			}
		case "size": // of files only (RFC 3659 §7.5.7)
			if !fi.IsDir() {
				b.WriteString("size=" + strconv.FormatInt(fi.Size(), 10) + ";")
			}
		case "modify":
			b.WriteString("modify=" + modTime(fi, now).Format(mdtmLayout) + ";")
		case "perm":
			b.WriteString("perm=" + s.perm(fi) + ";")
		}
	}
	b.WriteString(" " + name)
	return b.String()
}

// perm (RFC 3659 §7.5.5): what this user may do with the entry.
func (s *session) perm(fi fs.FileInfo) string {
	switch {
	case fi.IsDir() && s.acct.ReadOnly:
		return "el"
	case fi.IsDir():
		return "cdeflmp"
	case s.acct.ReadOnly:
		return "r"
	default:
		return "dfrw"
	}
}
