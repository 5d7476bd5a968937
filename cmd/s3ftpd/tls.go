package main

import (
	"log/slog"

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
func setupTLS(cfg config.Config, srv *ftp.Server, log *slog.Logger, hup *reloads) error {
	t := cfg.TLS
	var src *certs.Source
	var err error
	switch {
	case t.CertFile != "":
		if src, err = certs.Load(t.CertFile, t.KeyFile); err != nil {
			return err
		}
		hup.add("TLS certificate", func() error {
			if err := src.Reload(); err != nil {
				return err
			}
			log.Info("TLS certificate reloaded", "sha256", src.Fingerprint())
			return nil
		})
	case cfg.UseEmbedded() && cfg.TLSAskedFor():
		if src, err = certs.SelfSigned("localhost", "127.0.0.1", "::1"); err != nil {
			return err
		}
		log.Info("TLS: self-signed certificate made for the embedded store", "sha256", src.Fingerprint())
	default:
		log.Info("TLS off: no tls.cert_file configured")
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
