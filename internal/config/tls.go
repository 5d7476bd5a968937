package config

import (
	"slices"
)

// TLS configures FTPS (RFC 4217).
type TLS struct {
	// CertFile and KeyFile are PEM files (both or neither), reloaded on
	// SIGHUP. Without them TLS is off, except on the embedded store, where
	// a self-signed certificate is made at start.
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
	// ImplicitListen serves implicit FTPS ("port 990" style); empty: off.
	ImplicitListen string `yaml:"implicit_listen"`
	// Control and Data: "optional" or "required" (USER/PASS only after
	// AUTH TLS; PROT P before any data connection).
	Control string `yaml:"control"`
	Data    string `yaml:"data"`
	// RequireSessionReuse: a PROT P data connection must resume the
	// control connection's TLS session (stops passive port theft).
	RequireSessionReuse bool `yaml:"require_session_reuse"`
}

var tlsPolicies = []string{"optional", "required"}

func (v *validator) tls(c *Config) {
	t := c.TLS
	if (t.CertFile == "") != (t.KeyFile == "") {
		v.add("tls.cert_file", "cert_file and key_file go together")
	}
	for f, p := range map[string]string{"tls.control": t.Control, "tls.data": t.Data} {
		if !slices.Contains(tlsPolicies, p) {
			v.add(f, "%q: want optional or required", p)
		}
	}
	v.listen("tls.implicit_listen", t.ImplicitListen, true)
	if c.TLSAskedFor() && t.CertFile == "" && !c.UseEmbedded() {
		v.add("tls.cert_file", "required: TLS is asked for (required policy or implicit_listen) but no certificate is configured")
	}
}

// TLSAskedFor reports whether the config needs TLS without naming a
// certificate: a required policy, implicit FTPS, or a user with tls:
// required. (Then the embedded store makes a self-signed certificate; an
// S3 store needs tls.cert_file.)
func (c *Config) TLSAskedFor() bool {
	t := c.TLS
	asked := t.Control == "required" || t.Data == "required" || t.ImplicitListen != ""
	for _, u := range c.Users {
		asked = asked || u.TLS == "required"
	}
	return asked
}
