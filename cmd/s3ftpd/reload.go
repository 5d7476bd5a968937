package main

import (
	"context"
	"fmt"
	"log/slog"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/s3ftpd/s3ftpd/internal/config"
	"github.com/s3ftpd/s3ftpd/internal/ftp"
)

// configReload is what SIGHUP does with the config file: read and validate
// it whole; with any error keep the running config and log each error at
// ERROR; else apply what can change while serving (users, limits, the log
// level, the banner, the auth hook) and log each other changed key as
// ignored until the next start (listen addresses, the store, the cluster,
// timeouts, TLS policy…). The TLS certificate's files and the transfer log
// are reloaded by their own SIGHUP actions.
type configReload struct {
	path  string
	log   *slog.Logger
	level *slog.LevelVar
	srv   *ftp.Server
	auth  *swapAuth
	// newAuth builds the authenticator of a config (users, hook).
	newAuth func(config.Config) (ftp.Authenticator, error)

	mu  sync.Mutex
	cur config.Config
}

func (r *configReload) reload() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	next, err := config.Load(r.path)
	if err == nil {
		var a ftp.Authenticator
		if a, err = r.newAuth(next); err == nil {
			r.apply(next, a)
			return nil
		}
	}
	for _, e := range splitErrors(err) {
		r.log.Error("SIGHUP: config error; keeping the running config", "file", r.path, "err", e)
	}
	return fmt.Errorf("%s has %d error(s); nothing changed", r.path, len(splitErrors(err)))
}

func (r *configReload) apply(next config.Config, a ftp.Authenticator) {
	changed := changedKeys(r.cur, next)
	for _, k := range changed {
		if !isReloadable(k) {
			r.log.Warn("SIGHUP: setting changed; ignored until the next start", "key", k)
		}
	}
	r.level.Set(next.Log.SlogLevel())
	r.srv.SetLimits(limitsOf(next))
	r.auth.set(a)
	added, removed, modified := userChanges(r.cur.Users, next.Users)
	r.log.Info("SIGHUP: config reloaded", "file", r.path, "users", len(next.Users),
		"users_added", added, "users_removed", removed, "users_changed", modified,
		"log_level", next.Log.Level, "changed", changed)
	r.cur = next
}

func splitErrors(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

// isReloadable: the keys (and everything under them) a reload applies,
// except those under them that still need a restart.
func isReloadable(key string) bool {
	reloadable := []string{"users", "groups", "limits", "log.level", "banner", "auth"}
	// The download buffer budget is sized once, at the start (budget.go).
	restartOnly := []string{"limits.max_handshakes_per_ip", "limits.download_buffers",
		"limits.download_ip_share", "limits.download_user_share"}
	under := func(prefixes []string) bool {
		return slices.ContainsFunc(prefixes, func(p string) bool {
			return key == p || strings.HasPrefix(key, p+".") || strings.HasPrefix(key, p+"[")
		})
	}
	return under(reloadable) && !under(restartOnly)
}

// changedKeys lists the YAML paths whose values differ, down to the
// leaves of nested mappings (a list or a map is one key).
func changedKeys(a, b config.Config) []string {
	var out []string
	var walk func(x, y reflect.Value, path string)
	walk = func(x, y reflect.Value, path string) {
		if x.Kind() != reflect.Struct {
			if !reflect.DeepEqual(x.Interface(), y.Interface()) {
				out = append(out, path)
			}
			return
		}
		for i := range x.NumField() {
			name, _, _ := strings.Cut(x.Type().Field(i).Tag.Get("yaml"), ",")
			if name == "" || name == "-" {
				continue
			}
			p := name
			if path != "" {
				p = path + "." + name
			}
			walk(x.Field(i), y.Field(i), p)
		}
	}
	walk(reflect.ValueOf(a), reflect.ValueOf(b), "")
	return out
}

// userChanges names the users added, removed and changed (never what
// changed: that may be a password).
func userChanges(old, next []config.User) (added, removed, changed []string) {
	byName := map[string]config.User{}
	for _, u := range old {
		byName[u.Name] = u
	}
	seen := map[string]bool{}
	for _, u := range next {
		seen[u.Name] = true
		if o, ok := byName[u.Name]; !ok {
			added = append(added, u.Name)
		} else if !reflect.DeepEqual(o, u) {
			changed = append(changed, u.Name)
		}
	}
	for _, u := range old {
		if !seen[u.Name] {
			removed = append(removed, u.Name)
		}
	}
	return added, removed, changed
}

// limitsOf are the limits of cfg the FTP server applies while serving.
func limitsOf(cfg config.Config) ftp.Limits {
	l := cfg.Limits
	return ftp.Limits{
		MaxSessions: l.MaxSessions, MaxSessionsPerIP: l.MaxSessionsPerIP, MaxSessionsPerUser: l.MaxSessionsPerUser,
		LoginFailuresPerIP: l.LoginFailuresPerIP, LoginFailuresGlobal: l.LoginFailuresTotal,
		MaxFileSize: int64(l.MaxFileSize), MaxHashBytes: int64(l.MaxHashBytes), Bandwidth: bandwidth(l.Bandwidth),
		Welcome: cfg.Welcome(),
	}
}

// swapAuth is the server's Authenticator, replaced on reload: a login asks
// the one in force when it arrives; sessions already logged in keep their
// account.
type swapAuth struct{ cur atomic.Pointer[authHolder] }

type authHolder struct{ ftp.Authenticator }

func newSwapAuth(a ftp.Authenticator) *swapAuth {
	s := &swapAuth{}
	s.set(a)
	return s
}

func (s *swapAuth) set(a ftp.Authenticator) { s.cur.Store(&authHolder{a}) }

func (s *swapAuth) Login(ctx context.Context, req ftp.LoginRequest) (*ftp.Account, error) {
	return s.cur.Load().Login(ctx, req)
}
