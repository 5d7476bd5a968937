package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"time"

	"github.com/s3ftpd/s3ftpd/internal/auth"
	"github.com/s3ftpd/s3ftpd/internal/config"
	"github.com/s3ftpd/s3ftpd/internal/embeds3"
	"github.com/s3ftpd/s3ftpd/internal/ftp"
	"github.com/s3ftpd/s3ftpd/internal/s3fs"
)

// drainTimeout bounds how long transfers in flight may finish after
// SIGTERM/SIGINT.
const drainTimeout = 30 * time.Second

// serve wires the configured pieces together and runs until ctx ends.
func serve(ctx context.Context, cfg config.Config, stdout, stderr io.Writer) error {
	log := slog.New(cfg.Log.Handler(stderr))

	copts := s3fs.ClientOptions{
		Region: cfg.Store.S3.Region, Endpoint: cfg.Store.S3.Endpoint, PathStyle: cfg.Store.S3.PathStyle,
		AccessKey: cfg.Store.S3.AccessKey, SecretKey: cfg.Store.S3.SecretKey,
	}
	bucket, prefix := cfg.Store.S3.Bucket, cfg.Store.S3.Prefix
	if cfg.UseEmbedded() {
		e := cfg.Store.Embedded
		store, err := embeds3.Start(ctx, embeds3.Options{
			Dir: e.Dir, Listen: e.Listen, AccessKey: e.AccessKey, SecretKey: e.SecretKey, Logger: log,
		})
		if err != nil {
			return fmt.Errorf("embedded store: %w", err)
		}
		defer store.Close()
		copts = s3fs.ClientOptions{Region: "us-east-1", Endpoint: store.Endpoint(), PathStyle: true,
			AccessKey: store.AccessKey(), SecretKey: store.SecretKey()}
		bucket, prefix = store.Bucket(), ""
		log.Info("embedded S3 store", "endpoint", store.Endpoint(), "bucket", bucket, "dir", e.Dir)
	}
	client, err := s3fs.NewClient(ctx, copts)
	if err != nil {
		return fmt.Errorf("S3 client: %w", err)
	}
	// Runs before the embedded store's Close (defers run last-in first-out):
	// idle keep-alive connections would hold its shutdown for 10 s.
	defer s3fs.CloseIdleConnections(client)
	files, err := s3fs.New(client, s3fs.Options{
		Bucket: bucket, Prefix: prefix, PartSize: int64(cfg.Store.S3.PartSize),
		Concurrency: cfg.Store.S3.Concurrency, BufferBudget: int64(cfg.Store.S3.BufferBudget), Logger: log,
	})
	if err != nil {
		return err
	}
	users := make([]auth.User, len(cfg.Users))
	for i, u := range cfg.Users {
		users[i] = auth.User(u)
	}
	authn, err := auth.New(users, files.FS)
	if err != nil {
		return err
	}

	ln, err := ftp.Listen(ctx, cfg.Listen, cfg.Timeouts.Keepalive)
	if err != nil {
		return err
	}
	host, _, _ := net.SplitHostPort(cfg.Listen)
	bindIP, _ := netip.ParseAddr(host) // a host name or "" binds all addresses
	pool := &ftp.PortPool{IP: bindIP, First: cfg.Passive.Ports.First, Last: cfg.Passive.Ports.Last, Logger: log}
	defer pool.Close()
	srv := &ftp.Server{
		Auth:           authn,
		Passive:        pool,
		PassiveIP:      passiveIP(cfg.Passive.Address, log),
		Logger:         log,
		AllowActive:    cfg.Active.Enabled,
		IdleTimeout:    cfg.Timeouts.Idle,
		DataTimeout:    cfg.Timeouts.DataAccept,
		StallTimeout:   cfg.Timeouts.TransferStall,
		LoginFailDelay: cfg.Timeouts.LoginFailDelay,
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	log.Info("serving FTP", "listen", ln.Addr().String(), "passive_ports", cfg.Passive.Ports.String())
	fmt.Fprintf(stdout, "s3ftpd: ready on %s\n", readyURL(cfg, ln.Addr().String()))

	select {
	case err := <-served:
		return err
	case <-ctx.Done():
	}
	log.Info("draining", "timeout", drainTimeout)
	dctx, cancel := context.WithTimeout(context.Background(), drainTimeout)
	defer cancel()
	if err := srv.Shutdown(dctx); err != nil {
		log.Warn("drain timed out; closed remaining sessions", "err", err)
	}
	if err := <-served; !errors.Is(err, ftp.ErrServerClosed) {
		return err
	}
	log.Info("stopped")
	return nil
}

// passiveIP returns the PASV address chooser for passive.address: empty is
// the control connection's local address (nil), an IP is fixed, and a DNS
// name is resolved again at most every minute so a changed record (a LB's
// address) is followed without a restart.
func passiveIP(address string, log *slog.Logger) func(client, local netip.Addr) (netip.Addr, error) {
	if address == "" {
		return nil
	}
	if ip, err := netip.ParseAddr(address); err == nil {
		return func(_, _ netip.Addr) (netip.Addr, error) { return ip, nil }
	}
	r := &resolved{name: address, log: log}
	return func(_, _ netip.Addr) (netip.Addr, error) { return r.get() }
}

// readyURL is the ftp:// URL printed at start. Only the documented demo
// login of the zero-setup default carries its password.
func readyURL(cfg config.Config, addr string) string {
	if len(cfg.Users) == 0 {
		return "ftp://" + addr + "/"
	}
	u := cfg.Users[0]
	if u.Name == "demo" && u.Password == "demo" {
		return "ftp://demo:demo@" + addr + "/ (user demo, password demo)"
	}
	return "ftp://" + u.Name + "@" + addr + "/"
}
