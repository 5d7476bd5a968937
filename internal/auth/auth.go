// Package auth implements ftp.Authenticator for a fixed list of users, each
// with a plain password or a hash (bcrypt, argon2id, or the $6$/$5$/$1$
// crypt formats of other FTP servers: internal/passhash), with per-user
// permissions and allowed client CIDRs; and an external HTTP hook (hook.go).
package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/netip"
	"path"
	"strings"

	"golang.org/x/crypto/bcrypt"

	"github.com/s3ftpd/s3ftpd/internal/ftp"
	"github.com/s3ftpd/s3ftpd/internal/passhash"
)

// User is one login: exactly one of Password and PasswordHash (bcrypt) is
// set. Home is the absolute slash path the user's FS is rooted at ("" is
// "/").
type User struct {
	Name         string
	Password     string
	PasswordHash string
	Home         string
	// Bucket, if set, is another bucket the home is in (home:
	// s3://bucket/prefix); the FS factory gets it.
	Bucket   string
	ReadOnly bool
	// Deny is what the user may not do (ftp.Perm; zero: all allowed).
	Deny ftp.Perm
	// AllowedCIDRs: logins only from these client addresses (empty: any).
	AllowedCIDRs []netip.Prefix
	// Limits of the account (ftp.Account); zero: the server's.
	MaxFileSize int64
	MaxSessions int
	Bandwidth   ftp.Bandwidth
	TLS         string // "required": this user must use TLS
	// Storage is handed to the FS factory as it is (the user's storage
	// options, e.g. s3fs.ObjectOptions); auth does not look at it.
	Storage any
}

// Session is what the FS factory gets at each successful login.
type Session struct {
	User   string // login name
	Home   string // clean absolute home ("/" when unset)
	Bucket string // User.Bucket: "" for the store's own
	// Client is the real client address (PROXY-derived behind a LB).
	Client  netip.Addr
	Storage any // User.Storage
}

var _ ftp.Authenticator = (*Users)(nil)

// Users checks logins against a fixed set of users. It is safe for
// concurrent use.
type Users struct {
	byName map[string]*user
	fsFor  func(Session) ftp.FS
	// dummy is a bcrypt hash of a random password, compared against on
	// every login that does not compare against a user's own hash (unknown
	// user, plain password), so that each login costs one bcrypt and its
	// time does not tell whether the user exists.
	dummy []byte
	// allowed: logins only from these client addresses (empty: any),
	// checked before the password.
	allowed []netip.Prefix
}

type user struct {
	name     string
	home     string
	bucket   string
	readOnly bool
	deny     ftp.Perm
	allowed  []netip.Prefix
	limits   ftp.Account // MaxFileSize, MaxSessions, Bandwidth
	tls      bool
	storage  any
	// Exactly one of these is set.
	plainSum [sha256.Size]byte // SHA-256 of the plain password
	hash     string            // passhash format
}

// SetAllowedCIDRs limits every login to client addresses in cidrs
// (limits.allowed_cidrs); call it before serving.
func (u *Users) SetAllowedCIDRs(cidrs []netip.Prefix) { u.allowed = cidrs }

func allowedFrom(cidrs []netip.Prefix, ip netip.Addr) bool {
	if len(cidrs) == 0 {
		return true
	}
	for _, c := range cidrs {
		if c.Contains(ip.Unmap()) {
			return true
		}
	}
	return false
}

// New returns an Authenticator for users. fsFor is called at each
// successful login with the user's session (home, name, client address,
// storage options) and returns the FS rooted at the home. Errors name the
// user and the problem, never a password.
func New(users []User, fsFor func(Session) ftp.FS) (*Users, error) {
	if fsFor == nil {
		return nil, errors.New("auth: fsFor is nil")
	}
	u := &Users{byName: make(map[string]*user, len(users)), fsFor: fsFor}
	var errs []error
	cost := 0
	for i, cu := range users {
		bad := func(format string, args ...any) {
			errs = append(errs, fmt.Errorf("auth: user %d %q: %s", i, cu.Name, fmt.Sprintf(format, args...)))
		}
		e, err := newUser(cu)
		switch {
		case err != nil:
			bad("%v", err)
			continue
		case u.byName[cu.Name] != nil:
			bad("duplicate name")
			continue
		case (cu.Password == "") == (cu.PasswordHash == ""):
			bad("set exactly one of password and password hash")
			continue
		case cu.PasswordHash != "":
			if err := passhash.Check(cu.PasswordHash); err != nil {
				bad("password hash: %v", err)
				continue
			}
			cost = max(cost, passhash.BcryptCost(cu.PasswordHash))
			e.hash = cu.PasswordHash
		default:
			e.plainSum = sha256.Sum256([]byte(cu.Password))
		}
		u.byName[e.name] = e
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	// The dummy costs what the dearest real hash costs; with only plain
	// passwords, what HashPassword would.
	if cost == 0 {
		cost = bcrypt.DefaultCost
	}
	dummy, err := bcrypt.GenerateFromPassword([]byte(rand.Text()), cost)
	if err != nil {
		return nil, fmt.Errorf("auth: dummy hash: %w", err)
	}
	u.dummy = dummy
	return u, nil
}

// newUser checks the name and policy of cu (not its password).
func newUser(cu User) (*user, error) {
	home := cu.Home
	if home == "" {
		home = "/"
	}
	switch {
	case cu.Name == "":
		return nil, errors.New("empty name")
	case !strings.HasPrefix(home, "/") || strings.Contains(home+"/", "/../"):
		return nil, fmt.Errorf("home %q is not an absolute path", cu.Home)
	}
	return &user{name: cu.Name, home: path.Clean(home), bucket: cu.Bucket, readOnly: cu.ReadOnly, deny: cu.Deny,
		allowed: cu.AllowedCIDRs, tls: cu.TLS == "required", storage: cu.Storage,
		limits: ftp.Account{MaxFileSize: cu.MaxFileSize, MaxSessions: cu.MaxSessions, Bandwidth: cu.Bandwidth}}, nil
}

// account is the logged-in account of e, with its FS from fsFor.
func (e *user) account(req ftp.LoginRequest, fsFor func(Session) ftp.FS) (*ftp.Account, error) {
	fsys := fsFor(Session{User: e.name, Home: e.home, Bucket: e.bucket, Client: req.Client, Storage: e.storage})
	if fsys == nil {
		return nil, fmt.Errorf("auth: no storage for user %q", e.name)
	}
	return &ftp.Account{Name: e.name, FS: fsys, ReadOnly: e.readOnly, Deny: e.deny, TLSRequired: e.tls,
		MaxFileSize: e.limits.MaxFileSize, MaxSessions: e.limits.MaxSessions, Bandwidth: e.limits.Bandwidth}, nil
}

// Login implements ftp.Authenticator. An unknown user and a wrong password
// both give ftp.ErrBadLogin, after the same work: one hash comparison. A
// client address outside the allowed CIDRs gives ftp.ErrAddressNotAllowed,
// whatever the password (it is still hashed, so the answer's time tells
// nothing).
func (u *Users) Login(ctx context.Context, req ftp.LoginRequest) (*ftp.Account, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	e := u.byName[req.User]
	if !allowedFrom(u.allowed, req.Client) || (e != nil && !allowedFrom(e.allowed, req.Client)) {
		_ = bcrypt.CompareHashAndPassword(u.dummy, []byte(req.Password))
		return nil, ftp.ErrAddressNotAllowed
	}
	ok := false
	switch {
	case e != nil && e.hash != "":
		ok = passhash.Verify(e.hash, req.Password)
	default:
		// Unknown user or plain password: spend one bcrypt anyway. The
		// plain comparison is over SHA-256 sums, so it takes the same time
		// whatever the lengths.
		_ = bcrypt.CompareHashAndPassword(u.dummy, []byte(req.Password))
		sum := sha256.Sum256([]byte(req.Password))
		ok = e != nil && subtle.ConstantTimeCompare(sum[:], e.plainSum[:]) == 1
	}
	if !ok {
		return nil, ftp.ErrBadLogin
	}
	return e.account(req, u.fsFor)
}

// HashPassword returns a hash of password for a password_hash setting:
// bcrypt at its default cost, or argon2id.
func HashPassword(algo, password string) (string, error) {
	h, err := passhash.Hash(algo, password)
	if err != nil {
		return "", fmt.Errorf("auth: hash password: %w", err)
	}
	return h, nil
}
