package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The shipped example configs pass check-config, with their secrets from
// the environment as the examples say.
func TestExampleConfigsAreValid(t *testing.T) {
	t.Setenv("S3FTPD_CLUSTER_SECRET", "") // restored at the end
	files, _ := filepath.Glob("../../examples/*/*.yaml")
	if len(files) < 3 {
		t.Fatalf("examples: %v", files)
	}
	for _, f := range files {
		if strings.Contains(f, "haproxy") {
			// A cluster node; any cluster key, this one too, makes a
			// config a cluster node, so it is set for this file only.
			os.Setenv("S3FTPD_CLUSTER_SECRET", "0123456789abcdef-example")
		} else {
			os.Unsetenv("S3FTPD_CLUSTER_SECRET")
		}
		var out bytes.Buffer
		if err := run([]string{"check-config", "--config", f}, nil, &out, &out); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
}

// haproxy -c and systemd-analyze verify accept the examples, where the
// tools exist (CI installs haproxy; systemd-analyze comes with systemd).
func TestExampleHAProxyAndSystemdUnit(t *testing.T) {
	if hp, err := exec.LookPath("haproxy"); err == nil {
		if out, err := exec.Command(hp, "-c", "-f", "../../examples/haproxy/haproxy.cfg").CombinedOutput(); err != nil {
			t.Errorf("haproxy -c: %v\n%s", err, out)
		}
	} else if os.Getenv("CI") == "true" {
		t.Error("haproxy is not installed (CI installs it)")
	}
	sa, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Log("no systemd-analyze: unit not verified")
		return
	}
	unit, err := os.ReadFile("../../examples/systemd/s3ftpd.service")
	if err != nil {
		t.Fatal(err)
	}
	// verify wants the executables to exist: point the unit at a stand-in.
	dir := t.TempDir()
	bin := filepath.Join(dir, "s3ftpd")
	if err := os.WriteFile(bin, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "s3ftpd.service")
	os.WriteFile(p, []byte(strings.ReplaceAll(string(unit), "/usr/local/bin/s3ftpd", bin)), 0o644)
	out, err := exec.Command(sa, "verify", p).CombinedOutput()
	// verify exits 0 on some warnings (an unknown Type=): none is accepted.
	if err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
	for _, want := range []string{"Type=notify", "ExecReload=/bin/kill -HUP $MAINPID"} {
		if !strings.Contains(string(unit), want) {
			t.Errorf("the unit has no %s", want)
		}
	}
}
