package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"
)

func TestInvalidConfigNamesEveryField(t *testing.T) {
	p := filepath.Join(t.TempDir(), "bad.yaml")
	os.WriteFile(p, []byte(`listen: "nonsense"
passive:
  ports: "6000-5000"
timeouts:
  idle: 5
users:
  - name: alice
    password: secret-password-1
    password_hash: nothash
`), 0o600)
	var out, errb bytes.Buffer
	err := run([]string{"--config", p}, nil, &out, &errb)
	if err == nil {
		t.Fatal("a bad config was accepted")
	}
	msg := err.Error()
	for _, field := range []string{"listen", "passive.ports", "timeouts.idle", "users[0]"} {
		if !strings.Contains(msg, field) {
			t.Errorf("error does not name %s:\n%s", field, msg)
		}
	}
	if strings.Contains(msg, "secret-password-1") {
		t.Errorf("error shows the password:\n%s", msg)
	}
}

func TestHashPassword(t *testing.T) {
	var out bytes.Buffer
	if err := run([]string{"hash-password"}, strings.NewReader("s3cret\n"), &out, &out); err != nil {
		t.Fatal(err)
	}
	hash := strings.TrimSpace(out.String())
	if bcrypt.CompareHashAndPassword([]byte(hash), []byte("s3cret")) != nil {
		t.Fatalf("%q is not a bcrypt hash of the input", hash)
	}
	if err := run([]string{"hash-password"}, strings.NewReader(""), &out, &out); err == nil {
		t.Fatal("an empty password was hashed")
	}
}

func TestUnknownArgument(t *testing.T) {
	var out bytes.Buffer
	if err := run([]string{"serve-please"}, nil, &out, &out); err == nil {
		t.Fatal("unknown argument accepted")
	}
}

func TestHelpVersionCheckConfig(t *testing.T) {
	var out bytes.Buffer
	for _, arg := range []string{"help", "--help", "-h"} {
		out.Reset()
		if err := run([]string{arg}, nil, &out, &out); err != nil || !strings.Contains(out.String(), "check-config") {
			t.Errorf("%s: %v %q", arg, err, out.String())
		}
	}
	for _, arg := range []string{"version", "--version"} {
		out.Reset()
		if err := run([]string{arg}, nil, &out, &out); err != nil || !strings.HasPrefix(out.String(), "s3ftpd ") || !strings.Contains(out.String(), "go1.") {
			t.Errorf("%s: %v %q", arg, err, out.String())
		}
	}
	good := filepath.Join(t.TempDir(), "good.yaml")
	os.WriteFile(good, []byte("listen: 127.0.0.1:2121\n"), 0o600)
	out.Reset()
	if err := run([]string{"check-config", "--config", good}, nil, &out, &out); err != nil || !strings.Contains(out.String(), "OK") {
		t.Errorf("check-config of a good file: %v %q", err, out.String())
	}
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	os.WriteFile(bad, []byte("listen: nonsense\npassive: {ports: \"9-1\"}\n"), 0o600)
	err := run([]string{"check-config", "--config", bad}, nil, &out, &out)
	if err == nil || !strings.Contains(err.Error(), "listen") || !strings.Contains(err.Error(), "passive.ports") {
		t.Errorf("check-config of a bad file: %v", err)
	}
}
