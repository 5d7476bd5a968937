package main

import (
	"context"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/s3ftpd/s3ftpd/internal/certs"
	"github.com/s3ftpd/s3ftpd/internal/config"
	"github.com/s3ftpd/s3ftpd/internal/ftp"
)

// setupTLS configures FTPS on srv: the certificate from tls.cert_file /
// key_file (reloaded on SIGHUP without dropping sessions), or, on the
// embedded store when the config asks for TLS, a self-signed one made now.
// Otherwise TLS is off: the zero-setup default stays plain FTP, because
// clients that see AUTH TLS in FEAT (lftp) try it and then refuse an
// unknown certificate. (Validation refuses an S3 store config that asks
// for TLS without a certificate.)
func setupTLS(ctx context.Context, cfg config.Config, srv *ftp.Server, log *slog.Logger) error {
	t := cfg.TLS
	var src *certs.Source
	var err error
	switch {
	case t.CertFile != "":
		if src, err = certs.Load(t.CertFile, t.KeyFile); err != nil {
			return err
		}
		reloadOnHUP(ctx, src, log)
	case cfg.UseEmbedded() && cfg.TLSAskedFor():
		if src, err = certs.SelfSigned("localhost", "127.0.0.1", "::1"); err != nil {
			return err
		}
		log.Info("TLS: self-signed certificate made for the embedded store", "sha256", src.Fingerprint())
	default:
		log.Info("TLS off: no tls.cert_file configured")
		logHUP(ctx, log)
		return nil
	}
	srv.TLSConfig = certs.ServerConfig(src)
	srv.TLSControl = policy(t.Control)
	srv.TLSData = policy(t.Data)
	srv.TLSRequireReuse = t.RequireSessionReuse
	return nil
}

func policy(p string) ftp.TLSPolicy {
	if p == "required" {
		return ftp.TLSRequired
	}
	return ftp.TLSOptional
}

// logHUP says what a SIGHUP did when there is nothing to reload yet.
func logHUP(ctx context.Context, log *slog.Logger) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	go func() {
		defer signal.Stop(hup)
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				log.Info("SIGHUP: nothing to reload (no tls.cert_file); other settings take effect at the next start")
			}
		}
	}()
}

func reloadOnHUP(ctx context.Context, src *certs.Source, log *slog.Logger) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	go func() {
		defer signal.Stop(hup)
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				if err := src.Reload(); err != nil {
					log.Error("TLS certificate reload failed; keeping the current one", "err", err)
					continue
				}
				log.Info("TLS certificate reloaded", "sha256", src.Fingerprint())
			}
		}
	}()
}
