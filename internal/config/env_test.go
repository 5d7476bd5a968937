package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func envOf(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func TestEnvOverrides(t *testing.T) {
	yaml := `store:
  s3:
    bucket: b
    region: eu-west-1
users:
  - {name: a, password: secret-pw-1, home: /}
`
	cfg, err := ParseWith([]byte(yaml), ParseOptions{Env: envOf(map[string]string{
		"S3FTPD_STORE_S3_ACCESS_KEY":    "AKIA",
		"S3FTPD_STORE_S3_SECRET_KEY":    "[not: yaml} #",
		"S3FTPD_TIMEOUTS_IDLE":          "90s",
		"S3FTPD_LIMITS_MAX_SESSIONS":    "7",
		"S3FTPD_PROXY_PROTOCOL_TRUSTED": "[10.0.0.0/8, 192.168.0.0/16]",
		"S3FTPD_USERS":                  "ignored: users have no override",
	})})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Store.S3.AccessKey != "AKIA" || cfg.Store.S3.SecretKey != "[not: yaml} #" {
		t.Errorf("secrets from the environment: %q %q", cfg.Store.S3.AccessKey, cfg.Store.S3.SecretKey)
	}
	if cfg.Timeouts.Idle != 90*time.Second || cfg.Limits.MaxSessions != 7 || len(cfg.ProxyProtocol.Trusted) != 2 {
		t.Errorf("typed overrides: %v %d %v", cfg.Timeouts.Idle, cfg.Limits.MaxSessions, cfg.ProxyProtocol.Trusted)
	}
	if len(cfg.Users) != 1 {
		t.Errorf("users: %v", cfg.Users)
	}
	// Without Env (Parse), nothing comes from the environment.
	t.Setenv("S3FTPD_TIMEOUTS_IDLE", "91s")
	if cfg, _ := Parse([]byte(yaml)); cfg.Timeouts.Idle == 91*time.Second {
		t.Error("Parse read the environment")
	}
}

func TestEnvOverrideErrorsNameTheVariable(t *testing.T) {
	_, err := ParseWith([]byte("listen: 127.0.0.1:21\n"), ParseOptions{Env: envOf(map[string]string{
		"S3FTPD_TIMEOUTS_IDLE": "5",
		"S3FTPD_LOG_LEVEL":     "loud",
	})})
	if err == nil {
		t.Fatal("bad overrides accepted")
	}
	for _, want := range []string{"timeouts.idle", "$S3FTPD_TIMEOUTS_IDLE", "log.level", "$S3FTPD_LOG_LEVEL"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not name %s:\n%v", want, err)
		}
	}
}

func TestRelativePathsFromTheConfigDir(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "s3ftpd.yaml")
	os.WriteFile(p, []byte("store:\n  embedded:\n    dir: data\nlog:\n  xferlog: ../xfer.log\ntls:\n  cert_file: /abs/c.pem\n  key_file: k.pem\n"), 0o600)
	t.Chdir(t.TempDir()) // elsewhere, as under systemd
	cfg, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	for got, want := range map[string]string{
		cfg.Store.Embedded.Dir: filepath.Join(dir, "data"),
		cfg.Log.XferLog:        filepath.Join(filepath.Dir(dir), "xfer.log"),
		cfg.TLS.CertFile:       "/abs/c.pem",
		cfg.TLS.KeyFile:        filepath.Join(dir, "k.pem"),
	} {
		if got != want {
			t.Errorf("got %q, want %q", got, want)
		}
	}
	// The default (not written in the file) stays relative.
	os.WriteFile(p, []byte("listen: 127.0.0.1:2121\n"), 0o600)
	if cfg, err := Load(p); err != nil || cfg.Store.Embedded.Dir != "./s3ftpd-data" {
		t.Errorf("default dir: %q %v", cfg.Store.Embedded.Dir, err)
	}
}

func TestBanner(t *testing.T) {
	cfg, err := Parse([]byte("banner: |\n  Welcome to Example Corp.\n  Authorised use only.\n"))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Welcome() != "Welcome to Example Corp.\nAuthorised use only." {
		t.Errorf("%q", cfg.Welcome())
	}
	if _, err := Parse([]byte("banner: \"a\\rb\"\n")); err == nil || !strings.Contains(err.Error(), "banner") {
		t.Errorf("a CR in the banner: %v", err)
	}
}
