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
// log says why, never a login. What the profile holds and means is
// HookOptions.Profile's to decide (config.HookUser in the binary).
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
	// Profile turns the body of a 200 answer into the user (its policy:
	// no password); an error refuses the login with 421 and is logged.
	Profile func(user string, body []byte) (User, error)
	FSFor   func(Session) ftp.FS
}

type cached struct {
	u       *user
	expires time.Time
}

// NewHook checks o and returns the hook.
func NewHook(o HookOptions) (*Hook, error) {
	if !strings.HasPrefix(o.URL, "http://") && !strings.HasPrefix(o.URL, "https://") {
		return nil, fmt.Errorf("auth hook: URL %q is not http(s)", o.URL)
	}
	if o.FSFor == nil || o.Profile == nil {
		return nil, errors.New("auth hook: FSFor or Profile is nil")
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
	e, ok := h.cached(ck)
	if !ok {
		body, err := h.ask(ctx, req)
		if errors.Is(err, errHookRefused) {
			return nil, ftp.ErrBadLogin
		} else if err != nil {
			return nil, err
		}
		if e, err = h.user(req.User, body); err != nil {
			return nil, err
		}
		if h.o.CacheTTL > 0 {
			h.remember(ck, e)
		}
	}
	if !allowedFrom(e.allowed, req.Client) {
		return nil, ftp.ErrAddressNotAllowed
	}
	return e.account(req, h.o.FSFor)
}

// user is the user the answer body describes.
func (h *Hook) user(name string, body []byte) (*user, error) {
	cu, err := h.o.Profile(name, body)
	if err == nil {
		cu.Name = name
		var e *user
		if e, err = newUser(cu); err == nil {
			return e, nil
		}
	}
	return nil, fmt.Errorf("auth hook: answer for %q: %w", name, err)
}

// ask POSTs the login, retrying errors (not refusals).
func (h *Hook) ask(ctx context.Context, req ftp.LoginRequest) ([]byte, error) {
	body, _ := json.Marshal(map[string]any{"user": req.User, "password": req.Password,
		"client_ip": req.Client.String(), "tls": req.TLS, "node": h.o.Node})
	var err error
	for attempt := 0; attempt <= h.o.Retries; attempt++ {
		if attempt > 0 {
			select {
			case <-time.After(time.Duration(attempt) * 200 * time.Millisecond):
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		var answer []byte
		if answer, err = h.post(ctx, body); err == nil || errors.Is(err, errHookRefused) {
			return answer, err
		}
	}
	return nil, fmt.Errorf("auth hook %s: %w", h.o.URL, err)
}

// post sends one attempt; the body of a 200 is the profile.
func (h *Hook) post(ctx context.Context, body []byte) ([]byte, error) {
	r, err := http.NewRequestWithContext(ctx, http.MethodPost, h.o.URL, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	r.Header.Set("Content-Type", "application/json")
	if h.o.Header != "" {
		r.Header.Set(h.o.Header, h.o.Secret)
	}
	resp, err := h.client.Do(r)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusOK:
	case http.StatusUnauthorized, http.StatusForbidden:
		return nil, errHookRefused
	default:
		return nil, fmt.Errorf("answered %s", resp.Status)
	}
	const maxProfile = 64 << 10
	answer, err := io.ReadAll(io.LimitReader(resp.Body, maxProfile+1))
	if err == nil && len(answer) > maxProfile {
		err = errors.New("profile larger than 64 KiB")
	}
	return answer, err
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
func (h *Hook) remember(k [sha256.Size]byte, e *user) {
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
	h.cache[k] = cached{e, now.Add(h.o.CacheTTL)}
}

func (h *Hook) cached(k [sha256.Size]byte) (*user, bool) {
	if h.o.CacheTTL <= 0 {
		return nil, false
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	c, ok := h.cache[k]
	if !ok || time.Now().After(c.expires) {
		delete(h.cache, k)
		return nil, false
	}
	return c.u, true
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
