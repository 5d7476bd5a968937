package ftp

import (
	"errors"
	"unicode/utf8"
)

// errBadName: a path argument that no file may be called (553).
var errBadName = errors.New("file name not allowed")

// validName reports whether a path argument may name a file: valid UTF-8
// (RFC 2640 §2.2: pathnames are UTF-8) with no C0 control byte and no DEL.
// Such bytes cannot be typed back from a listing — a stored name with an
// invalid byte is listed with U+FFFD, so two names look alike and neither
// can be fetched by its listed name — and a CR or LF in a name would reach
// LIST output and replies raw (RFC 959 §4.1.3 forbids them in a pathname).
//
// This is the protocol's rule, checked once in the dispatcher for every
// command whose argument is a path (the name flag of the command table),
// before the name is resolved (session.abs). What a store cannot hold
// (S3's key length limits) is the storage's to refuse, in internal/s3fs.
func validName(arg string) bool {
	if !utf8.ValidString(arg) {
		return false
	}
	for i := 0; i < len(arg); i++ {
		if c := arg[i]; c < 0x20 || c == 0x7f {
			return false
		}
	}
	return true
}
