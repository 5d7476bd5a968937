package auth

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"path"
	"strings"
	"sync"
	"time"

	"github.com/s3ftpd/s3ftpd/internal/ftp"
)

// Hook is the external authentication hook (SFTPGo calls it "external
// auth"): each login is POSTed as JSON
//
//	{"user": "...", "password": "...", "client_ip": "...", "tls": true, "node": "..."}
//
// to an HTTP(S) URL. 200 with a JSON profile is a login; 401 or 403 is a
// refusal (530); anything else — another status, a timeout, a malformed
// profile — after the retries is an error: the session gets 421 and the
// log says why, never a login.
type Hook struct {
	o      HookOptions
	client *http.Client
	key    []byte // keys the cache (an HMAC of user and password, never them)

	mu    sync.Mutex
	cache map[[sha256.Size]byte]cached
}

// HookOptions configure a Hook.
type HookOptions struct {
	URL     string
	Timeout time.Duration // per attempt; default 5s
	Retries int           // attempts after the first on an error (not on 401/403)
	// Header and Secret, if set, are sent as a header so the hook knows
	// the caller (e.g. "Authorization: Bearer …").
	Header, Secret string
	// CacheTTL keeps successful answers this long (0: ask every time).
	CacheTTL time.Duration
	Node     string // this node's name, sent along
	// Storage is the object properties for the FS of hook users (their
	// profile does not set them yet).
	Storage any
	FSFor   func(Session) ftp.FS
}

// Profile is the hook's answer for a login.
type Profile struct {
	Home         string   `json:"home"`
	Permissions  []string `json:"permissions"` // absent: all
	ReadOnly     bool     `json:"read_only"`
	AllowedCIDRs []string `json:"allowed_cidrs"`
	TLSRequired  bool     `json:"tls_required"`
}

type cached struct {
	p       Profile
	expires time.Time
}

// NewHook checks o and returns the hook.
func NewHook(o HookOptions) (*Hook, error) {
	if !strings.HasPrefix(o.URL, "http://") && !strings.HasPrefix(o.URL, "https://") {
		return nil, fmt.Errorf("auth hook: URL %q is not http(s)", o.URL)
	}
	if o.FSFor == nil {
		return nil, errors.New("auth hook: FSFor is nil")
	}
	if o.Timeout <= 0 {
		o.Timeout = 5 * time.Second
	}
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	return &Hook{o: o, client: &http.Client{Timeout: o.Timeout}, key: key, cache: map[[sha256.Size]byte]cached{}}, nil
}

var errHookRefused = errors.New("refused by the hook")

// Login implements ftp.Authenticator.
func (h *Hook) Login(ctx context.Context, req ftp.LoginRequest) (*ftp.Account, error) {
	ck := h.cacheKey(req)
	p, ok := h.cached(ck)
	if !ok {
		var err error
		if p, err = h.ask(ctx, req); errors.Is(err, errHookRefused) {
			return nil, ftp.ErrBadLogin
		} else if err != nil {
			return nil, err
		}
		if h.o.CacheTTL > 0 {
			h.remember(ck, p)
		}
	}
	return h.account(req, p)
}

func (h *Hook) account(req ftp.LoginRequest, p Profile) (*ftp.Account, error) {
	home := p.Home
	if home == "" {
		home = "/"
	}
	if !strings.HasPrefix(home, "/") || strings.Contains("/"+home+"/", "/../") {
		return nil, fmt.Errorf("auth hook: profile of %q: home %q is not an absolute path", req.User, p.Home)
	}
	var deny ftp.Perm
	if p.Permissions != nil {
		allow, err := ftp.ParsePerms(p.Permissions)
		if err != nil {
			return nil, fmt.Errorf("auth hook: profile of %q: %w", req.User, err)
		}
		deny = ftp.PermAll &^ allow
	}
	var cidrs []netip.Prefix
	for _, c := range p.AllowedCIDRs {
		pfx, err := netip.ParsePrefix(c)
		if err != nil {
			ip, err2 := netip.ParseAddr(c)
			if err2 != nil {
				return nil, fmt.Errorf("auth hook: profile of %q: allowed_cidrs %q: %w", req.User, c, err)
			}
			pfx = netip.PrefixFrom(ip, ip.BitLen())
		}
		cidrs = append(cidrs, pfx.Masked())
	}
	if !allowedFrom(cidrs, req.Client) {
		return nil, ftp.ErrAddressNotAllowed
	}
	fsys := h.o.FSFor(Session{User: req.User, Home: path.Clean(home), Client: req.Client, Storage: h.o.Storage})
	if fsys == nil {
		return nil, fmt.Errorf("auth hook: no storage for user %q", req.User)
	}
	return &ftp.Account{Name: req.User, FS: fsys, ReadOnly: p.ReadOnly, Deny: deny, TLSRequired: p.TLSRequired}, nil
}

// ask POSTs the login, retrying errors (not refusals).
func (h *Hook) ask(ctx context.Context, req ftp.LoginRequest) (Profile, error) {
	body, _ := json.Marshal(map[string]any{"user": req.User, "password": req.Password,
		"client_ip": req.Client.String(), "tls": req.TLS, "node": h.o.Node})
	var err error
	for attempt := 0; attempt <= h.o.Retries; attempt++ {
		if attempt > 0 {
			select {
			case <-time.After(time.Duration(attempt) * 200 * time.Millisecond):
			case <-ctx.Done():
				return Profile{}, ctx.Err()
			}
		}
		var p Profile
		if p, err = h.post(ctx, body); err == nil || errors.Is(err, errHookRefused) {
			return p, err
		}
	}
	return Profile{}, fmt.Errorf("auth hook %s: %w", h.o.URL, err)
}

func (h *Hook) post(ctx context.Context, body []byte) (Profile, error) {
	r, err := http.NewRequestWithContext(ctx, http.MethodPost, h.o.URL, bytes.NewReader(body))
	if err != nil {
		return Profile{}, err
	}
	r.Header.Set("Content-Type", "application/json")
	if h.o.Header != "" {
		r.Header.Set(h.o.Header, h.o.Secret)
	}
	resp, err := h.client.Do(r)
	if err != nil {
		return Profile{}, err
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusOK:
	case http.StatusUnauthorized, http.StatusForbidden:
		return Profile{}, errHookRefused
	default:
		return Profile{}, fmt.Errorf("answered %s", resp.Status)
	}
	var p Profile
	if err := json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&p); err != nil {
		return Profile{}, fmt.Errorf("malformed profile: %w", err)
	}
	return p, nil
}

func (h *Hook) cacheKey(req ftp.LoginRequest) [sha256.Size]byte {
	m := hmac.New(sha256.New, h.key)
	m.Write([]byte(req.User))
	m.Write([]byte{0})
	m.Write([]byte(req.Password))
	var k [sha256.Size]byte
	copy(k[:], m.Sum(nil))
	return k
}

// remember caches a successful answer; the cache drops expired entries
// when it grows.
func (h *Hook) remember(k [sha256.Size]byte, p Profile) {
	now := time.Now()
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.cache) >= 10000 {
		for k, c := range h.cache {
			if now.After(c.expires) {
				delete(h.cache, k)
			}
		}
	}
	h.cache[k] = cached{p, now.Add(h.o.CacheTTL)}
}

func (h *Hook) cached(k [sha256.Size]byte) (Profile, bool) {
	if h.o.CacheTTL <= 0 {
		return Profile{}, false
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	c, ok := h.cache[k]
	if !ok || time.Now().After(c.expires) {
		delete(h.cache, k)
		return Profile{}, false
	}
	return c.p, true
}

// Chain tries the static users first, then the hook for names they do not
// have.
type Chain struct {
	Static *Users
	Hook   *Hook
}

// Login implements ftp.Authenticator.
func (c Chain) Login(ctx context.Context, req ftp.LoginRequest) (*ftp.Account, error) {
	if c.Hook == nil || c.Static.Has(req.User) {
		return c.Static.Login(ctx, req)
	}
	if !allowedFrom(c.Static.allowed, req.Client) { // limits.allowed_cidrs
		return nil, ftp.ErrAddressNotAllowed
	}
	return c.Hook.Login(ctx, req)
}

// Has reports whether name is one of the users.
func (u *Users) Has(name string) bool { return u.byName[name] != nil }
