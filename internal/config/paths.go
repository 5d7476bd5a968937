package config

import "path/filepath"

// fileKeys are the keys that name files or directories. When written in a
// config file with a relative path they are taken relative to the file's
// directory, not to the working directory (which differs under systemd, in
// a container, and after the embedded store's chdir). A relative path from
// the environment or the built-in default stays relative to the working
// directory.
var fileKeys = []struct {
	path string
	ptr  func(*Config) *string
}{
	{"store.embedded.dir", func(c *Config) *string { return &c.Store.Embedded.Dir }},
	{"log.xferlog", func(c *Config) *string { return &c.Log.XferLog }},
	{"tls.cert_file", func(c *Config) *string { return &c.TLS.CertFile }},
	{"tls.key_file", func(c *Config) *string { return &c.TLS.KeyFile }},
	{"cluster.secret_file", func(c *Config) *string { return &c.Cluster.SecretFile }},
}

// resolvePaths makes the file keys given in the file absolute against dir
// ("" leaves them as they are).
func (d *decoder) resolvePaths(c *Config, dir string) {
	if dir == "" {
		return
	}
	for _, k := range fileKeys {
		p := k.ptr(c)
		if _, given := d.lines[k.path]; given && *p != "" && !filepath.IsAbs(*p) {
			*p = filepath.Join(dir, *p)
		}
	}
}
