package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"slices"
	"strings"
	"unicode"

	"github.com/s3ftpd/s3ftpd/internal/ftp"
)

// Policy is what a user may do and gets: the part of a user entry that a
// group can give as defaults and that the auth hook answers with (the same
// keys in its JSON profile).
type Policy struct {
	// Home is the user's chroot: an absolute slash path inside the store
	// ("/" when unset), or s3://bucket/prefix for a path in another
	// bucket of the same store endpoint and credentials. {user} is
	// replaced by the login name, so a group can give each member its own.
	Home     string `yaml:"home" json:"home"`
	ReadOnly bool   `yaml:"read_only" json:"read_only"`
	// Permissions: what the user may do, of list, download, upload,
	// overwrite, delete, rename, mkdir; absent: all. read_only is the
	// shorthand for [list, download].
	Permissions []string `yaml:"permissions" json:"permissions"`
	// AllowedCIDRs: logins only from these client addresses (the real ones,
	// from PROXY headers behind a LB); empty: any.
	AllowedCIDRs []string `yaml:"allowed_cidrs" json:"allowed_cidrs"`
	// MaxFileSize, MaxSessions and Bandwidth override limits.max_file_size,
	// limits.max_sessions_per_user and limits.bandwidth for this user.
	MaxFileSize Size      `yaml:"max_file_size" json:"max_file_size"`
	MaxSessions int       `yaml:"max_sessions" json:"max_sessions"`
	Bandwidth   Bandwidth `yaml:"bandwidth" json:"bandwidth"`
	// TLS "required" makes this user's control and data connections use
	// TLS whatever the server-wide policy; "" or "optional" follows it.
	TLS string `yaml:"tls" json:"tls"`
	// Object overrides store.s3.object for this user's uploads.
	Object ObjectProps `yaml:"object" json:"object"`
}

// Group is a named set of policy defaults (groups: in the file): a user
// that names it gets each setting it leaves unset from the group.
type Group struct {
	Name   string `yaml:"name"`
	Policy `yaml:",inline"`
}

// over fills what p leaves unset from the group's g: the user's own
// setting wins; read_only of either applies; tags and metadata merge key by
// key (the user's value wins).
func (p Policy) over(g Policy) Policy {
	if p.Home == "" {
		p.Home = g.Home
	}
	p.ReadOnly = p.ReadOnly || g.ReadOnly
	if p.Permissions == nil {
		p.Permissions = g.Permissions
	}
	if p.AllowedCIDRs == nil {
		p.AllowedCIDRs = g.AllowedCIDRs
	}
	p.MaxFileSize = cmp0(p.MaxFileSize, g.MaxFileSize)
	p.MaxSessions = cmp0(p.MaxSessions, g.MaxSessions)
	p.Bandwidth = Bandwidth{
		UpPerSession:   cmp0(p.Bandwidth.UpPerSession, g.Bandwidth.UpPerSession),
		DownPerSession: cmp0(p.Bandwidth.DownPerSession, g.Bandwidth.DownPerSession),
		UpPerUser:      cmp0(p.Bandwidth.UpPerUser, g.Bandwidth.UpPerUser),
		DownPerUser:    cmp0(p.Bandwidth.DownPerUser, g.Bandwidth.DownPerUser),
	}
	if p.TLS == "" {
		p.TLS = g.TLS
	}
	o := g.Object
	o.ACL = cmp0(p.Object.ACL, o.ACL)
	o.SSE = cmp0(p.Object.SSE, o.SSE)
	o.KMSKeyID = cmp0(p.Object.KMSKeyID, o.KMSKeyID)
	o.StorageClass = cmp0(p.Object.StorageClass, o.StorageClass)
	if p.Object.Tagging != nil || o.Tagging != nil {
		o.Tagging = mergeMap(o.Tagging, p.Object.Tagging)
	}
	if p.Object.Metadata != nil || o.Metadata != nil {
		o.Metadata = mergeMap(o.Metadata, p.Object.Metadata)
	}
	p.Object = o
	return p
}

// cmp0 is a unless it is the zero value, else b.
func cmp0[T comparable](a, b T) T {
	var zero T
	if a != zero {
		return a
	}
	return b
}

// SplitHome splits a validated home into the bucket it names ("" for the
// store's own) and the path: "s3://b/in/x" is ("b", "/in/x"), "/x" is
// ("", "/x").
func SplitHome(home string) (bucket, dir string) {
	rest, ok := strings.CutPrefix(home, "s3://")
	if !ok {
		return "", home
	}
	bucket, dir, _ = strings.Cut(rest, "/")
	return bucket, path.Clean("/" + dir)
}

// HomeBuckets is the other buckets the homes of users and groups name,
// each once (a bucket name with {user} in it is left out: it is known only
// at login).
func (c *Config) HomeBuckets() []string {
	var out []string
	add := func(home string) {
		if b, _ := SplitHome(home); b != "" && !strings.Contains(b, "{") && !slices.Contains(out, b) {
			out = append(out, b)
		}
	}
	for _, u := range c.Users {
		add(u.Home)
	}
	for _, g := range c.Groups {
		add(g.Home)
	}
	return out
}

// resolveUser applies the user's group and checks its policy; field is
// where the user is ("users[2]", or the hook's name for it). It normalizes
// the home (clean, "/" when unset, {user} replaced).
func (v *validator) resolveUser(c *Config, field string, u *User) {
	who := ""
	if u.Name != "" {
		who = fmt.Sprintf("user %q: ", u.Name)
	}
	if u.Group != "" {
		g := c.group(u.Group)
		if g == nil {
			v.add(field+".group", "%s%q: no such group in groups:", who, u.Group)
		} else {
			u.Policy = u.Policy.over(g.Policy)
		}
	}
	v.policy(field, who, &u.Policy, u.Name)
	v.objectProps(field+".object", u.Object, merged(c.Store.S3.Object, u.Object))
}

func (c *Config) group(name string) *Group {
	for i := range c.Groups {
		if c.Groups[i].Name == name {
			return &c.Groups[i]
		}
	}
	return nil
}

// policy checks p and normalizes its home, with name in place of {user}.
func (v *validator) policy(field, who string, p *Policy, name string) {
	if _, err := ftp.ParsePerms(p.Permissions); err != nil {
		v.add(field+".permissions", "%s%v", who, err)
	}
	if p.MaxSessions < 0 || p.MaxFileSize < 0 || p.Bandwidth.negative() {
		v.add(field+".max_sessions", "%smax_sessions, max_file_size and bandwidth must not be negative", who)
	}
	for j, c := range p.AllowedCIDRs {
		if _, err := parseCIDR(c); err != nil {
			v.add(fmt.Sprintf("%s.allowed_cidrs[%d]", field, j), "%s%v", who, err)
		}
	}
	switch p.TLS {
	case "", "optional", "required":
	default:
		v.add(field+".tls", "%s%q: want required or optional", who, p.TLS)
	}
	if strings.Contains(p.Home, "{user}") {
		if strings.Contains(name, "/") || name == "." || name == ".." {
			v.add(field+".home", "%sthe name cannot fill {user} in a home: it holds \"/\" or is a dot name", who)
			return
		}
		p.Home = strings.ReplaceAll(p.Home, "{user}", name)
	}
	bucket, dir := "", p.Home
	if rest, ok := strings.CutPrefix(p.Home, "s3://"); ok {
		bucket, dir, _ = strings.Cut(rest, "/")
		dir = "/" + dir
		if !validBucketName(bucket) {
			v.add(field+".home", "%s%q: want s3://bucket/prefix with a valid bucket name", who, p.Home)
			return
		}
	}
	if dir == "" {
		dir = "/"
	}
	switch {
	case !strings.HasPrefix(dir, "/"):
		v.add(field+".home", "%s%q: must be an absolute path starting with \"/\" or s3://bucket/prefix", who, p.Home)
	case hasDotDot(dir):
		v.add(field+".home", "%s%q: must not contain \"..\"", who, p.Home)
	case strings.IndexFunc(dir, unicode.IsControl) >= 0:
		v.add(field+".home", "%s%q: must not contain control characters", who, p.Home)
	case bucket != "":
		p.Home = "s3://" + bucket + path.Clean(dir)
	default:
		p.Home = path.Clean(dir)
	}
}

// validBucketName is S3's rule for new buckets: 3 to 63 lower-case letters,
// digits, dots and hyphens, starting and ending with a letter or digit.
func validBucketName(b string) bool {
	if len(b) < 3 || len(b) > 63 {
		return false
	}
	for i, r := range b {
		alnum := r >= 'a' && r <= 'z' || r >= '0' && r <= '9'
		if !alnum && (i == 0 || i == len(b)-1 || (r != '.' && r != '-')) {
			return false
		}
	}
	return true
}

// groups checks the groups: list: names unique, policies valid (a group's
// home keeps its {user}).
func (v *validator) groups(c *Config) {
	seen := map[string]int{}
	for i := range c.Groups {
		g := &c.Groups[i]
		field := fmt.Sprintf("groups[%d]", i)
		if g.Name == "" {
			v.add(field+".name", "required")
		} else if first, dup := seen[g.Name]; dup {
			v.add(field+".name", "%q: duplicate, also groups[%d]", g.Name, first)
		} else {
			seen[g.Name] = i
		}
		p := g.Policy // checked with a stand-in name; members fill {user}
		v.policy(field, fmt.Sprintf("group %q: ", g.Name), &p, "x")
		v.objectProps(field+".object", g.Object, merged(c.Store.S3.Object, g.Object))
	}
}

// HookUser is the user an auth hook's 200 answer describes: body is its
// JSON profile, with the keys of a user entry's policy (home, permissions,
// read_only, allowed_cidrs, max_file_size, max_sessions, bandwidth, tls,
// object) and group. Unknown keys are an error, so a misspelt permission
// key refuses the login instead of granting everything. tls_required: true
// is the older spelling of tls: required.
func (c *Config) HookUser(name string, body []byte) (User, error) {
	var p struct {
		User
		TLSRequired bool `json:"tls_required"`
	}
	d := json.NewDecoder(bytes.NewReader(body))
	d.DisallowUnknownFields()
	if err := d.Decode(&p); err != nil {
		return User{}, fmt.Errorf("profile: %w", err)
	}
	u := p.User
	u.Name = name
	if p.TLSRequired {
		u.TLS = "required"
	}
	v := &validator{}
	v.resolveUser(c, "profile", &u)
	if err := errors.Join(v.errs...); err != nil {
		return User{}, err
	}
	return u, nil
}
