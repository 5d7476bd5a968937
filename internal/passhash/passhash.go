// Package passhash checks passwords against the hash formats users bring
// from other FTP servers, so they migrate without resetting passwords:
//
//	$2a$/$2b$/$2y$…   bcrypt (s3ftpd's default; golang.org/x/crypto/bcrypt)
//	$argon2id$…       argon2id in the PHC string format (golang.org/x/crypto/argon2)
//	$6$… $5$… $1$…    SHA-512, SHA-256 and MD5 crypt, as in /etc/shadow,
//	                  pureftpd.passwd and proftpd's AuthUserFile
//	                  (github.com/GehirnInc/crypt)
//
// New hashes are bcrypt or argon2id; the crypt formats are only checked.
package passhash

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"github.com/GehirnInc/crypt/md5_crypt"
	"github.com/GehirnInc/crypt/sha256_crypt"
	"github.com/GehirnInc/crypt/sha512_crypt"
	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/bcrypt"
)

// ErrUnknown is returned for a string that is no hash this package knows.
var ErrUnknown = errors.New("not a bcrypt, argon2id, $6$, $5$ or $1$ hash")

// Check reports whether h is a well-formed hash of a known format.
func Check(h string) error {
	switch kind(h) {
	case "bcrypt":
		_, err := bcrypt.Cost([]byte(h))
		return err
	case "argon2id":
		_, err := parseArgon2(h)
		return err
	case "sha512", "sha256", "md5":
		if strings.Count(h, "$") < 3 {
			return fmt.Errorf("malformed %s crypt hash", kind(h))
		}
		return nil
	}
	return ErrUnknown
}

// Verify reports whether password matches h. A malformed h matches nothing.
func Verify(h, password string) bool {
	switch kind(h) {
	case "bcrypt":
		return bcrypt.CompareHashAndPassword([]byte(h), []byte(password)) == nil
	case "argon2id":
		a, err := parseArgon2(h)
		if err != nil {
			return false
		}
		got := argon2.IDKey([]byte(password), a.salt, a.t, a.m, a.p, uint32(len(a.key)))
		return subtle.ConstantTimeCompare(got, a.key) == 1
	case "sha512":
		return sha512_crypt.New().Verify(h, []byte(password)) == nil
	case "sha256":
		return sha256_crypt.New().Verify(h, []byte(password)) == nil
	case "md5":
		return md5_crypt.New().Verify(h, []byte(password)) == nil
	}
	return false
}

// BcryptCost is h's bcrypt cost, 0 for other formats.
func BcryptCost(h string) int {
	c, _ := bcrypt.Cost([]byte(h))
	return c
}

func kind(h string) string {
	switch {
	case strings.HasPrefix(h, "$2a$"), strings.HasPrefix(h, "$2b$"), strings.HasPrefix(h, "$2y$"):
		return "bcrypt"
	case strings.HasPrefix(h, "$argon2id$"):
		return "argon2id"
	case strings.HasPrefix(h, "$6$"):
		return "sha512"
	case strings.HasPrefix(h, "$5$"):
		return "sha256"
	case strings.HasPrefix(h, "$1$"):
		return "md5"
	}
	return ""
}

// Algorithms that Hash makes.
const (
	Bcrypt   = "bcrypt"
	Argon2id = "argon2id"
)

// argon2id parameters for new hashes: OWASP's (19 MiB, 2 passes, 1 lane),
// so that the bounded number of logins checked at once stays cheap in
// memory.
const (
	argonMemory = 19 * 1024
	argonTime   = 2
	argonLanes  = 1
)

// Hash makes a new hash of password with algo (bcrypt or argon2id).
func Hash(algo, password string) (string, error) {
	switch algo {
	case "", Bcrypt:
		h, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.DefaultCost)
		return string(h), err
	case Argon2id:
		salt := make([]byte, 16)
		_, _ = rand.Read(salt)
		key := argon2.IDKey([]byte(password), salt, argonTime, argonMemory, argonLanes, 32)
		b64 := base64.RawStdEncoding.EncodeToString
		return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, argonMemory, argonTime, argonLanes, b64(salt), b64(key)), nil
	}
	return "", fmt.Errorf("unknown algorithm %q (bcrypt, argon2id)", algo)
}

type argon2Hash struct {
	m, t      uint32
	p         uint8
	salt, key []byte
}

// parseArgon2 reads "$argon2id$v=19$m=…,t=…,p=…$salt$key" (PHC string
// format, unpadded base64).
func parseArgon2(h string) (argon2Hash, error) {
	var a argon2Hash
	f := strings.Split(h, "$")
	if len(f) != 6 || f[1] != "argon2id" {
		return a, errors.New("malformed argon2id hash")
	}
	var v int
	if _, err := fmt.Sscanf(f[2], "v=%d", &v); err != nil || v != argon2.Version {
		return a, errors.New("argon2id hash of an unsupported version")
	}
	var p uint32
	if _, err := fmt.Sscanf(f[3], "m=%d,t=%d,p=%d", &a.m, &a.t, &p); err != nil || a.t == 0 || p == 0 || p > 255 || a.m > 4<<20 {
		return a, errors.New("malformed argon2id parameters")
	}
	a.p = uint8(p)
	var err1, err2 error
	a.salt, err1 = base64.RawStdEncoding.DecodeString(f[4])
	a.key, err2 = base64.RawStdEncoding.DecodeString(f[5])
	if err1 != nil || err2 != nil || len(a.key) < 16 {
		return a, errors.New("malformed argon2id salt or key")
	}
	return a, nil
}
