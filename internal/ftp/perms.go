package ftp

import (
	"errors"
	"io/fs"
	"strings"
)

// Perm is a set of things an account may do. Account.Deny holds what it
// may not; the zero Deny allows everything.
type Perm uint8

const (
	PermList      Perm = 1 << iota // LIST, NLST, MLSD, MLST, SIZE, MDTM, STAT path
	PermDownload                   // RETR, HASH and the X checksums
	PermUpload                     // STOR, STOU, APPE of a new name
	PermOverwrite                  // STOR, APPE, MFMT of an existing file
	PermDelete                     // DELE, RMD
	PermRename                     // RNFR, RNTO
	PermMkdir                      // MKD
	PermAll       = PermList | PermDownload | PermUpload | PermOverwrite | PermDelete | PermRename | PermMkdir
)

// PermNames are the names of the permissions in configuration.
var PermNames = map[string]Perm{
	"list": PermList, "download": PermDownload, "upload": PermUpload, "overwrite": PermOverwrite,
	"delete": PermDelete, "rename": PermRename, "mkdir": PermMkdir,
}

// ParsePerms turns permission names into the set they grant.
func ParsePerms(names []string) (Perm, error) {
	var p Perm
	for _, n := range names {
		v, ok := PermNames[strings.ToLower(n)]
		if !ok {
			return 0, errors.New("unknown permission " + n + " (want list, download, upload, overwrite, delete, rename, mkdir)")
		}
		p |= v
	}
	return p, nil
}

// ErrAddressNotAllowed is what an Authenticator returns for a login from
// an address outside the account's (or the server's) allowed CIDRs: 530.
var ErrAddressNotAllowed = errors.New("login not allowed from this address")

// permFor is the permission a command needs (0: none).
func permFor(verb, arg string) Perm {
	switch verb {
	case "LIST", "NLST", "MLSD", "MLST", "SIZE", "MDTM":
		return PermList
	case "STAT":
		if arg != "" {
			return PermList
		}
	case "RETR", "HASH", "XCRC", "XMD5", "XSHA1", "XSHA256":
		return PermDownload
	case "STOR", "STOU", "APPE":
		return PermUpload
	case "MFMT":
		return PermOverwrite
	case "DELE", "RMD":
		return PermDelete
	case "RNFR", "RNTO":
		return PermRename
	case "MKD":
		return PermMkdir
	}
	return 0
}

// permitted checks the account's permissions for a command; a refusal is
// answered 550 and audited. An upload onto an existing file needs
// overwrite too: checked with one Stat, only for accounts without it.
func (s *session) permitted(verb, arg string) bool {
	deny := s.acct.Deny
	if deny == 0 {
		return true
	}
	need := permFor(verb, arg)
	if need != 0 && deny&need == 0 && (verb == "STOR" || verb == "APPE") && deny&PermOverwrite != 0 {
		if _, err := s.stat(s.abs(arg)); !errors.Is(err, fs.ErrNotExist) {
			need = PermOverwrite // it exists (or we cannot tell: refuse)
		}
	}
	if need == 0 || deny&need == 0 {
		return true
	}
	s.closePassive()
	s.reply(550, "Permission denied.")
	s.audit(verb, arg, "")
	return false
}
