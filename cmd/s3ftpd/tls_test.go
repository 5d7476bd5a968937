package main

import (
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/s3ftpd/s3ftpd/internal/config"
	"github.com/s3ftpd/s3ftpd/internal/ftp"
)

func TestMisconfiguredCertificateIsAClearStartupError(t *testing.T) {
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	dir := t.TempDir()
	bad := filepath.Join(dir, "cert.pem")
	os.WriteFile(bad, []byte("not a certificate"), 0o600)
	for _, files := range [][2]string{{filepath.Join(dir, "missing.pem"), filepath.Join(dir, "missing.key")}, {bad, bad}} {
		cfg := config.Default()
		cfg.TLS.CertFile, cfg.TLS.KeyFile = files[0], files[1]
		err := setupTLS(cfg, &ftp.Server{}, quiet, nil)
		if err == nil || !strings.Contains(err.Error(), files[0]) {
			t.Fatalf("cert %s: want an error naming the file, got %v", files[0], err)
		}
	}
	// The zero-setup default is plain FTP; asking for TLS on the embedded
	// store makes a self-signed certificate.
	srv := &ftp.Server{}
	if err := setupTLS(config.Default(), srv, quiet, nil); err != nil || srv.TLSConfig != nil {
		t.Fatalf("embedded default: TLS config %v, err %v; want plain FTP", srv.TLSConfig, err)
	}
	cfg := config.Default()
	cfg.TLS.ImplicitListen = "127.0.0.1:0"
	if err := setupTLS(cfg, srv, quiet, nil); err != nil || srv.TLSConfig == nil {
		t.Fatalf("embedded with implicit_listen: TLS config %v, err %v", srv.TLSConfig, err)
	}
	if !srv.TLSRequireReuse {
		t.Fatal("session reuse must be required by default")
	}
}
