package config

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/s3ftpd/s3ftpd/internal/passhash"
)

// Limits checked by Validate.
const (
	// MinPartSize and MaxPartSize are S3's multipart part size limits.
	MinPartSize = 5 * MiB
	MaxPartSize = 5 * GiB
	// MinBufferWait bounds S3.BufferWait: a shorter wait turns ordinary
	// backpressure into refusals.
	MinBufferWait = 100 * time.Millisecond
	// MinStallTimeout bounds S3.StallTimeout: below it, a busy store's
	// ordinary pauses would fail requests.
	MinStallTimeout = time.Second
	// MaxConcurrency bounds S3.Concurrency.
	MaxConcurrency = 64
	// NLBIdleTimeout is AWS NLB's TCP idle timeout; Timeouts.Keepalive
	// must be below it so that idle control connections survive.
	NLBIdleTimeout = 350 * time.Second
)

// Validate checks c and returns every problem found, each a *FieldError
// naming its field, joined with errors.Join; nil when c is valid.
//
// It also normalizes what has one right form: an empty user home becomes
// "/", and homes are path.Clean'ed.
func (c *Config) Validate() error {
	v := &validator{}
	v.listen("listen", c.Listen, false)
	v.passive(c)
	v.timeouts(c.Timeouts)
	v.store(c.Store)
	v.storage(c)
	v.groups(c)
	v.users(c)
	v.log(c.Log)
	v.lb(c)
	v.tls(c)
	v.cluster(c)
	v.auth(c)
	v.banner(c.Banner)
	return errors.Join(v.errs...)
}

type validator struct{ errs []error }

func (v *validator) add(field, format string, args ...any) {
	v.errs = append(v.errs, &FieldError{Field: field, Msg: fmt.Sprintf(format, args...)})
}

// listen checks a host:port. The host may be empty (all addresses), an IP
// or a DNS name.
func (v *validator) listen(field, addr string, emptyOK bool) {
	if addr == "" {
		if !emptyOK {
			v.add(field, "required (host:port)")
		}
		return
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		v.add(field, "%q: want host:port, like \"127.0.0.1:2121\"", addr)
		return
	}
	if p, err := strconv.Atoi(port); err != nil || p < 0 || p > 65535 {
		v.add(field, "%q: port %q is not a number from 0 to 65535", addr, port)
	}
	if host != "" && !isIP(host) && !isDNSName(host) {
		v.add(field, "%q: %q is neither an IP address nor a host name", addr, host)
	}
}

func (v *validator) passive(c *Config) {
	r := c.Passive.Ports
	switch {
	case r.First < 1 || r.First > 65535 || r.Last < 1 || r.Last > 65535:
		v.add("passive.ports", "%q: ports must be from 1 to 65535", r.String())
	case r.First > r.Last:
		v.add("passive.ports", "%q: start > end", r.String())
	default:
		if _, port, err := net.SplitHostPort(c.Listen); err == nil {
			if p, err := strconv.Atoi(port); err == nil && r.Contains(p) {
				v.add("passive.ports", "%q: includes the listen port %d", r.String(), p)
			}
		}
	}
	if a := c.Passive.Address; a != "" && a != "control" && !isIP(a) && !isDNSName(a) {
		v.add("passive.address", "%q: want an IP address, a DNS name or \"control\"", a)
	}
}

func (v *validator) timeouts(t Timeouts) {
	positive := []struct {
		field string
		d     time.Duration
	}{
		{"timeouts.idle", t.Idle},
		{"timeouts.data_accept", t.DataAccept},
		{"timeouts.transfer_stall", t.TransferStall},
		{"timeouts.keepalive", t.Keepalive},
		{"timeouts.login", t.Login},
		{"timeouts.handshake", t.Handshake},
	}
	for _, p := range positive {
		if p.d <= 0 {
			v.add(p.field, "%v: must be above zero", p.d)
		}
	}
	if t.MinRate < 0 {
		v.add("timeouts.min_rate", "%v: must not be negative", t.MinRate)
	}
	if t.LoginFailDelay < 0 {
		v.add("timeouts.login_fail_delay", "%v: must not be negative", t.LoginFailDelay)
	}
	if t.Keepalive >= NLBIdleTimeout {
		v.add("timeouts.keepalive", "%v: must be below %gs (the AWS NLB idle timeout)", t.Keepalive, NLBIdleTimeout.Seconds())
	}
}

func (v *validator) store(s Store) {
	e, s3 := s.Embedded, s.S3
	if s.UseEmbedded() {
		if e.Dir == "" {
			v.add("store.embedded.dir", "required for the embedded store")
		}
		v.listen("store.embedded.listen", e.Listen, true)
		if (e.AccessKey == "") != (e.SecretKey == "") {
			v.add("store.embedded.access_key", "set both access_key and secret_key, or neither (then they are generated)")
		}
		// Settings of an S3 store are ignored without a bucket: say so
		// rather than start on the embedded store by surprise.
		for _, f := range []struct {
			field string
			set   bool
		}{
			{"store.s3.prefix", s3.Prefix != ""},
			{"store.s3.region", s3.Region != ""},
			{"store.s3.endpoint", s3.Endpoint != ""},
			{"store.s3.path_style", s3.PathStyle},
			{"store.s3.access_key", s3.AccessKey != ""},
			{"store.s3.secret_key", s3.SecretKey != ""},
		} {
			if f.set {
				v.add(f.field, "set, but store.s3.bucket is empty, so the embedded store is used")
			}
		}
	} else {
		v.bucket(s3.Bucket)
		if strings.HasPrefix(s3.Prefix, "/") {
			v.add("store.s3.prefix", "%q: must not start with \"/\"", s3.Prefix)
		} else if hasDotDot(s3.Prefix) {
			v.add("store.s3.prefix", "%q: must not contain \"..\"", s3.Prefix)
		}
		if s3.Endpoint != "" {
			u, err := url.Parse(s3.Endpoint)
			if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				v.add("store.s3.endpoint", "%q: want an http:// or https:// URL", s3.Endpoint)
			}
		}
		if (s3.AccessKey == "") != (s3.SecretKey == "") {
			v.add("store.s3.access_key", "set both access_key and secret_key, or neither (then the SDK's default credentials are used)")
		}
		for _, f := range []struct {
			field string
			set   bool
		}{
			{"store.embedded.listen", e.Listen != ""},
			{"store.embedded.access_key", e.AccessKey != ""},
			{"store.embedded.secret_key", e.SecretKey != ""},
		} {
			if f.set {
				v.add(f.field, "set, but store.s3.bucket is set, so the embedded store is not used")
			}
		}
	}
	if s3.PartSize < MinPartSize || s3.PartSize > MaxPartSize {
		v.add("store.s3.part_size", "%v: must be from %v to %v", s3.PartSize, MinPartSize, MaxPartSize)
	}
	if s3.StallTimeout < MinStallTimeout {
		v.add("store.s3.stall_timeout", "%v: must be at least %v", s3.StallTimeout, MinStallTimeout)
	}
	if s3.Concurrency < 1 || s3.Concurrency > MaxConcurrency {
		v.add("store.s3.concurrency", "%d: must be from 1 to %d", s3.Concurrency, MaxConcurrency)
	}
	if s3.BufferBudget < 2*s3.PartSize {
		v.add("store.s3.buffer_budget", "%v: must be at least twice store.s3.part_size (%v)", s3.BufferBudget, 2*s3.PartSize)
	}
	if s3.BufferWait < MinBufferWait {
		v.add("store.s3.buffer_wait", "%v: must be at least %v", s3.BufferWait, MinBufferWait)
	}
	v.share("store.s3.buffer_ip_share", s3.BufferIPShare)
	v.share("store.s3.buffer_user_share", s3.BufferUserShare)
	v.share("store.s3.buffer_session_share", s3.BufferSessionShare)
}

// share checks a percentage of a budget.
func (v *validator) share(field string, pct int) {
	if pct < 1 || pct > 100 {
		v.add(field, "%d: must be a percentage from 1 to 100", pct)
	}
}

func (v *validator) bucket(b string) {
	switch {
	case strings.HasPrefix(b, "s3://"):
		v.add("store.s3.bucket", "%q: want the bare bucket name, without s3://", b)
	case strings.Contains(b, "/"):
		v.add("store.s3.bucket", "%q: a bucket name has no \"/\"; put the rest in store.s3.prefix", b)
	case strings.IndexFunc(b, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) >= 0:
		v.add("store.s3.bucket", "%q: a bucket name has no spaces", b)
	}
}

func (v *validator) users(c *Config) {
	if len(c.Users) == 0 && !c.UseEmbedded() && c.Auth.HTTP.URL == "" {
		v.add("users", "at least one user is required (or an auth.http hook)")
	}
	seen := map[string]int{}
	for i := range c.Users {
		u := &c.Users[i]
		field := fmt.Sprintf("users[%d]", i)
		who := ""
		if u.Name != "" {
			who = fmt.Sprintf("user %q: ", u.Name)
		}
		switch {
		case u.Name == "":
			v.add(field+".name", "required")
		case !utf8.ValidString(u.Name) ||
			strings.IndexFunc(u.Name, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) >= 0:
			v.add(field+".name", "%q: must not contain spaces or control characters", u.Name)
		default:
			if first, dup := seen[u.Name]; dup {
				v.add(field+".name", "%q: duplicate, also users[%d]", u.Name, first)
			} else {
				seen[u.Name] = i
			}
		}
		// Never put a password or a hash in a message.
		switch {
		case u.Password == "" && u.PasswordHash == "":
			v.add(field+".password", "%sset password or password_hash", who)
		case u.Password != "" && u.PasswordHash != "":
			v.add(field+".password_hash", "%sset only one of password and password_hash", who)
		case u.PasswordHash != "":
			if err := passhash.Check(u.PasswordHash); err != nil {
				v.add(field+".password_hash", "%s%v (bcrypt \"$2a$10$...\", argon2id, or the crypt formats $6$, $5$, $1$)", who, err)
			}
		}
		v.resolveUser(c, field, u)
	}
}

func (v *validator) log(l Log) {
	switch l.Level {
	case "debug", "info", "warn", "error":
	default:
		v.add("log.level", "%q: want debug, info, warn or error", l.Level)
	}
	switch l.Format {
	case "text", "json":
	default:
		v.add("log.format", "%q: want text or json", l.Format)
	}
}

func hasDotDot(p string) bool {
	for _, seg := range strings.Split(p, "/") {
		if seg == ".." {
			return true
		}
	}
	return false
}

// isIP reports whether s is an IP literal without a zone.
func isIP(s string) bool {
	a, err := netip.ParseAddr(s)
	return err == nil && a.Zone() == ""
}

// isDNSName reports whether s is a syntactically valid host name (RFC 1123):
// dot-separated labels of letters, digits and inner hyphens, at most 253
// characters, a trailing dot allowed. A name whose last label is all digits
// is rejected: it is a mistyped IP address, not a name.
func isDNSName(s string) bool {
	s = strings.TrimSuffix(s, ".")
	if s == "" || len(s) > 253 {
		return false
	}
	labels := strings.Split(s, ".")
	for _, l := range labels {
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return false
		}
		for _, r := range l {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-') {
				return false
			}
		}
	}
	last := labels[len(labels)-1]
	return strings.Trim(last, "0123456789") != ""
}
