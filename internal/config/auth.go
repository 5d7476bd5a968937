package config

import (
	"fmt"
	"net/url"
	"time"
)

// Auth configures where users come from besides the users: list.
type Auth struct {
	HTTP AuthHTTP `yaml:"http"`
}

// AuthHTTP is the external authentication hook (internal/auth/hook.go):
// names not in users: are POSTed to URL.
type AuthHTTP struct {
	URL string `yaml:"url"`
	// Timeout per attempt (default 5s); Retries after a failed attempt
	// (not after a refusal).
	Timeout time.Duration `yaml:"timeout"`
	Retries int           `yaml:"retries"`
	// Header and Secret: a header sent with every call, so the hook knows
	// the caller (e.g. header: Authorization, secret: "Bearer …").
	Header string `yaml:"header"`
	Secret string `yaml:"secret"`
	// CacheTTL keeps successful answers this long; 0 (default) asks every
	// time.
	CacheTTL time.Duration `yaml:"cache_ttl"`
}

// String hides the secret.
func (a AuthHTTP) String() string {
	if a.Secret != "" {
		a.Secret = redacted
	}
	type plain AuthHTTP
	return fmt.Sprintf("%+v", plain(a))
}

// GoString is String, for %#v.
func (a AuthHTTP) GoString() string { return a.String() }

func (v *validator) auth(c *Config) {
	h := c.Auth.HTTP
	if h.URL == "" {
		if h != (AuthHTTP{}) {
			v.add("auth.http.url", "required when other auth.http keys are set")
		}
		return
	}
	if u, err := url.Parse(h.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		v.add("auth.http.url", "%q: want an http:// or https:// URL", h.URL)
	}
	if h.Timeout < 0 || h.CacheTTL < 0 {
		v.add("auth.http.timeout", "timeout and cache_ttl must not be negative")
	}
	if h.Retries < 0 || h.Retries > 5 {
		v.add("auth.http.retries", "%d: want 0 to 5", h.Retries)
	}
	if (h.Header == "") != (h.Secret == "") {
		v.add("auth.http.header", "set header and secret together")
	}
}
