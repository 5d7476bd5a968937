package main

import (
	"os"

	"github.com/s3ftpd/s3ftpd/internal/auth"
	"github.com/s3ftpd/s3ftpd/internal/config"
	"github.com/s3ftpd/s3ftpd/internal/ftp"
	"github.com/s3ftpd/s3ftpd/internal/s3fs"
)

// newAuth builds the Authenticator of the users: list (validated) and the
// auth hook.
func newAuth(cfg config.Config, files *s3fs.Store) (ftp.Authenticator, error) {
	users := make([]auth.User, len(cfg.Users))
	for i, u := range cfg.Users {
		users[i] = authUser(u)
	}
	for _, b := range cfg.HomeBuckets() {
		files.Bucket(b) // swept by the janitor from the start
	}
	fsFor := func(s auth.Session) ftp.FS {
		obj, _ := s.Storage.(s3fs.ObjectOptions)
		return files.Bucket(s.Bucket).UserFS(s3fs.User{Home: s.Home, Name: s.User, Client: s.Client, Object: obj})
	}
	a, err := auth.New(users, fsFor)
	if err != nil {
		return nil, err
	}
	allowed, _ := config.ParseCIDRs(cfg.Limits.AllowedCIDRs)
	a.SetAllowedCIDRs(allowed)
	h := cfg.Auth.HTTP
	if h.URL == "" {
		return a, nil
	}
	// A profile is a user entry in JSON, resolved and checked as one.
	profile := func(name string, body []byte) (auth.User, error) {
		u, err := cfg.HookUser(name, body)
		return authUser(u), err
	}
	hook, err := auth.NewHook(auth.HookOptions{URL: h.URL, Timeout: h.Timeout, Retries: h.Retries,
		Header: h.Header, Secret: h.Secret, CacheTTL: h.CacheTTL, Node: nodeName(cfg),
		Profile: profile, FSFor: fsFor})
	if err != nil {
		return nil, err
	}
	return auth.Chain{Static: a, Hook: hook}, nil
}

// authUser is the login of a validated user entry (its group applied).
func authUser(u config.User) auth.User {
	bucket, home := config.SplitHome(u.Home)
	au := auth.User{Name: u.Name, Password: u.Password, PasswordHash: u.PasswordHash, Home: home, Bucket: bucket,
		ReadOnly: u.ReadOnly, TLS: u.TLS, Storage: s3fs.ObjectOptions(u.Object)}
	if u.Permissions != nil {
		allow, _ := ftp.ParsePerms(u.Permissions) // validated
		au.Deny = ftp.PermAll &^ allow
	}
	au.AllowedCIDRs, _ = config.ParseCIDRs(u.AllowedCIDRs)
	au.MaxFileSize, au.MaxSessions, au.Bandwidth = int64(u.MaxFileSize), u.MaxSessions, bandwidth(u.Bandwidth)
	return au
}

// nodeName is what the auth hook is told: the cluster node id, else the
// host name.
func nodeName(cfg config.Config) string {
	if cfg.Cluster.NodeID != "" {
		return cfg.Cluster.NodeID
	}
	h, _ := os.Hostname()
	return h
}

func bandwidth(b config.Bandwidth) ftp.Bandwidth {
	return ftp.Bandwidth{UpPerSession: int64(b.UpPerSession), DownPerSession: int64(b.DownPerSession),
		UpPerUser: int64(b.UpPerUser), DownPerUser: int64(b.DownPerUser)}
}
