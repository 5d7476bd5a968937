package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"runtime/debug"
	"time"

	"github.com/s3ftpd/s3ftpd/internal/config"
	"github.com/s3ftpd/s3ftpd/internal/ftp"
	"github.com/s3ftpd/s3ftpd/internal/ops"
	"github.com/s3ftpd/s3ftpd/internal/proxy"
	"github.com/s3ftpd/s3ftpd/internal/s3fs"
)

// serve wires the configured pieces together and runs until ctx ends.
// cfgPath is the config file (absolute; "": the built-in default), read
// again on SIGHUP.
// gcPercent is the garbage collector's target unless GOGC is set: the heap
// may grow to 1.5× what is live, not 2×. Upload blocks live outside the
// heap, so the heap is mostly listings, sessions and the SDK's requests,
// and its growth between collections was most of what a LIST or a burst
// of small files added to the resident memory (docs/benchmarks.md,
// memory sequence: +2.6 MiB over a LIST of 5 000 at 100, +1.0 at 50).
const gcPercent = 50

func serve(ctx context.Context, cfg config.Config, cfgPath string, stdout, stderr io.Writer) error {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(gcPercent)
	}
	level := new(slog.LevelVar)
	level.Set(cfg.Log.SlogLevel())
	log := slog.New(cfg.Log.HandlerAt(stderr, level))
	// Built before the pieces it observes; its gauges read them at scrape
	// time, once they exist (the ops server starts after them).
	var files *s3fs.Store
	var srv *ftp.Server
	var cnode *clusterNode
	notify := ops.NewNotifier(os.Getenv, os.Getpid())
	hup := &reloads{log: log, notify: notify}
	hup.run(ctx)
	health := &ops.Health{}
	observers := ftp.Observers{}
	if cfg.Log.XferLog != "" {
		// Opened before the embedded store starts: it changes the working
		// directory.
		xl, err := ops.OpenXferLog(cfg.Log.XferLog)
		if err != nil {
			return fmt.Errorf("log.xferlog: %w", err)
		}
		defer xl.Close()
		hup.add("transfer log "+cfg.Log.XferLog, xl.Reopen)
		observers = append(observers, xl)
	}
	metrics := ops.NewMetrics(ops.Sources{
		Sessions:    func() []ftp.SessionInfo { return srv.Snapshot() },
		BudgetInUse: func() int64 { return files.BufferInUse() },
		BudgetTotal: int64(cfg.Store.S3.BufferBudget),
		Budgets: func() map[string]*ftp.Budget {
			return map[string]*ftp.Budget{"upload": files.BufferBudget(), "download": srv.DownloadBudget()}
		},
		Draining: health.Draining,
	})

	copts := s3fs.ClientOptions{
		Region: cfg.Store.S3.Region, Endpoint: cfg.Store.S3.Endpoint, PathStyle: cfg.Store.S3.PathStyle,
		AccessKey: cfg.Store.S3.AccessKey, SecretKey: cfg.Store.S3.SecretKey,
		StallTimeout: cfg.Store.S3.StallTimeout,
	}
	bucket, prefix := cfg.Store.S3.Bucket, cfg.Store.S3.Prefix
	var embedded embeddedStore
	var maxParts int32 // the store's; 0: S3's
	if cfg.UseEmbedded() {
		e := cfg.Store.Embedded
		store, err := startEmbedded(ctx, cfg, log)
		if err != nil {
			return fmt.Errorf("embedded store: %w", err)
		}
		embedded = store
		defer store.Close()
		copts = s3fs.ClientOptions{Region: "us-east-1", Endpoint: store.Endpoint(), PathStyle: true,
			AccessKey: store.AccessKey(), SecretKey: store.SecretKey(), StallTimeout: cfg.Store.S3.StallTimeout}
		bucket, prefix, maxParts = store.Bucket(), "", store.MaxParts()
		log.Info("embedded S3 store", "endpoint", store.Endpoint(), "bucket", bucket, "dir", e.Dir)
	}
	copts.Observe = metrics.S3
	client, err := s3fs.NewClient(ctx, copts)
	if err != nil {
		return fmt.Errorf("S3 client: %w", err)
	}
	// Runs before the embedded store's Close (defers run last-in first-out):
	// idle keep-alive connections would hold its shutdown for 10 s.
	defer s3fs.CloseIdleConnections(client)
	// In a cluster the node exists before the store (which records its
	// uploads there) and joins the FTP server once that exists.
	if cfg.Cluster.Enabled() {
		sessions := func() int { return srv.Sessions() } // announced only after attach
		onLost := func(ctx context.Context, instance string) error {
			return cnode.node.AdoptUploads(ctx, instance, files.Adopt)
		}
		if cnode, err = newClusterNode(cfg, sessions, onLost, log); err != nil {
			return err
		}
		defer func() {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			cnode.leave(ctx) // after an early return; a drain has left already
		}()
	}
	var peers s3fs.Peers
	if cnode != nil {
		peers = cnode.node
	}
	files, err = s3fs.New(client, s3fs.Options{
		Bucket: bucket, Prefix: prefix, PartSize: int64(cfg.Store.S3.PartSize), MaxParts: maxParts,
		Concurrency: cfg.Store.S3.Concurrency, BufferBudget: int64(cfg.Store.S3.BufferBudget), Logger: log,
		BufferWait: cfg.Store.S3.BufferWait, BufferIPShare: cfg.Store.S3.BufferIPShare,
		BufferUserShare: cfg.Store.S3.BufferUserShare, BufferSessionShare: cfg.Store.S3.BufferSessionShare,
		Object:       s3fs.ObjectOptions(cfg.Store.S3.Object),
		ResumeWindow: cfg.Uploads.ResumeWindow, NonAtomic: !cfg.Uploads.Atomic, Peers: peers,
		MFMTMaxSize: mfmtMax(cfg.Uploads.MFMTMaxSize),
		Swept:       metrics.Swept, Partial: metrics.Partial,
	})
	if err != nil {
		return err
	}
	if maxParts > 0 {
		// ext4 keeps ~4 KiB of xattrs a file, the part offsets of a few
		// hundred parts (README, "The embedded store").
		log.Info("the embedded store's filesystem holds few parts an object; uploads use larger parts sooner",
			"max_parts", maxParts, "largest_upload_gib", files.MaxUploadSize()>>30)
	}
	// The store check; then, once whether the store honours conditional
	// writes and deletes.
	storeAttrs := []any{"bucket", bucket, "prefix", prefix, "endpoint", copts.Endpoint}
	if copts.Endpoint == "" {
		storeAttrs[len(storeAttrs)-1] = "AWS S3 (region " + client.Options().Region + ")"
	}
	watchCtx, stopWatch := context.WithCancel(ctx)
	waitWatch, storeOK := watchStore(watchCtx, files, log, storeAttrs, notify, func() { files.CheckConditional(watchCtx) })
	defer func() { stopWatch(); waitWatch() }()
	// The janitor (partial uploads) stops before the embedded store does.
	maintainCtx, stopMaintain := context.WithCancel(ctx)
	maintained := make(chan struct{})
	go func() { defer close(maintained); files.Maintain(maintainCtx) }()
	defer func() { stopMaintain(); <-maintained }()
	authn, err := newAuth(cfg, files)
	if err != nil {
		return err
	}

	trusted, _ := config.ParseCIDRs(cfg.ProxyProtocol.Trusted) // validated
	trustLB, _ := config.ParseCIDRs(cfg.Passive.TrustLBCIDRs)
	wrap := func(l net.Listener) net.Listener {
		return proxy.Wrap(l, proxy.Options{Trusted: trusted, Required: cfg.ProxyProtocol.Required,
			HeaderTimeout: cfg.Timeouts.Handshake, Logger: log})
	}
	ln, err := ftp.Listen(ctx, cfg.Listen, cfg.Timeouts.Keepalive)
	if err != nil {
		return err
	}
	ln = wrap(ln)
	pool := &ftp.PortPool{IP: passiveBindIP(cfg), First: cfg.Passive.Ports.First, Last: cfg.Passive.Ports.Last,
		Wrap: wrap, TrustLB: trustLB, OnRefused: metrics.Refused, Logger: log}
	defer pool.Close()
	pasvIP, err := newPassiveIP(cfg.Passive, log)
	if err != nil {
		return err
	}
	auth := newSwapAuth(authn)
	srv = &ftp.Server{
		Auth:              auth,
		Passive:           pool,
		PassiveIP:         pasvIP,
		Logger:            log,
		AllowActive:       cfg.Active.Enabled,
		IdleTimeout:       cfg.Timeouts.Idle,
		DataTimeout:       cfg.Timeouts.DataAccept,
		StallTimeout:      cfg.Timeouts.TransferStall,
		MinRate:           int64(cfg.Timeouts.MinRate),
		DownloadBuffers:   int64(cfg.Limits.DownloadBuffers),
		DownloadIPShare:   cfg.Limits.DownloadIPShare,
		DownloadUserShare: cfg.Limits.DownloadUserShare,
		BufferWait:        cfg.Store.S3.BufferWait,
		LoginFailDelay:    cfg.Timeouts.LoginFailDelay,
		Observer:          append(observers, metrics),
		LoginTimeout:      cfg.Timeouts.Login,
		HandshakeTimeout:  cfg.Timeouts.Handshake,
		MaxPendingPerIP:   cfg.Limits.MaxHandshakesPerIP,
	}
	// Session, login, file size and bandwidth limits and the banner; SIGHUP
	// replaces them (reload.go).
	srv.SetLimits(limitsOf(cfg))
	if cfgPath != "" {
		cr := &configReload{path: cfgPath, log: log, level: level, srv: srv, auth: auth, cur: cfg,
			newAuth: func(c config.Config) (ftp.Authenticator, error) {
				if embedded != nil { // as at the start: the store has every home bucket
					if err := embedded.EnsureBuckets(ctx, c.HomeBuckets()); err != nil {
						return nil, err
					}
				}
				return newAuth(c, files)
			}}
		hup.add("config "+cfgPath, cr.reload)
	}
	if cnode != nil {
		cnode.attach(pool, srv)
	}
	health.Ready = files.Ping
	if cnode != nil {
		health.Degraded = cnode.degraded
	}
	if cfg.Ops.Listen != "" {
		stopOps, err := serveOps(cfg.Ops.Listen, opsHandler(cfg, health, metrics, srv, cnode), log)
		if err != nil {
			return err
		}
		defer stopOps()
	}
	if err := setupTLS(cfg, srv, log, hup); err != nil {
		return err
	}
	listeners := []func() error{func() error { return srv.Serve(ln) }}
	if cfg.TLS.ImplicitListen != "" {
		iln, err := ftp.Listen(ctx, cfg.TLS.ImplicitListen, cfg.Timeouts.Keepalive)
		if err != nil {
			return fmt.Errorf("tls.implicit_listen: %w", err)
		}
		iln = wrap(iln) // TCP → PROXY → TLS
		listeners = append(listeners, func() error { return srv.ServeTLS(iln) })
		log.Info("serving implicit FTPS", "listen", iln.Addr().String())
	}
	served := make(chan error, len(listeners))
	for _, serve := range listeners {
		go func() { served <- serve() }()
	}
	log.Info("serving FTP", "listen", ln.Addr().String(), "passive_ports", cfg.Passive.Ports.String())
	if storeOK {
		fmt.Fprintf(stdout, "s3ftpd: ready on %s\n", readyURL(cfg, ln.Addr().String()))
	} else {
		fmt.Fprintf(stdout, "s3ftpd: serving on %s but NOT READY: the store check failed (see the ERROR line; it is retried)\n",
			readyURL(cfg, ln.Addr().String()))
	}
	_ = notify.Ready("serving FTP on " + ln.Addr().String())
	go notify.Watchdog(ctx, nil)

	select {
	case err := <-served:
		srv.Close()
		return err
	case <-ctx.Done():
	}
	log.Info("draining", "timeout", cfg.DrainTimeout)
	_ = notify.Stopping("draining: transfers in flight may finish")
	health.Drain()
	dctx, cancel := context.WithTimeout(context.Background(), cfg.DrainTimeout)
	defer cancel()
	if err := srv.Shutdown(dctx); err != nil {
		log.Warn("drain timed out; closed remaining sessions", "err", err)
	}
	if cnode != nil {
		cnode.leave(dctx)
	}
	for range listeners {
		if err := <-served; !errors.Is(err, ftp.ErrServerClosed) {
			return err
		}
	}
	log.Info("stopped")
	return nil
}

// readyURL is the ftp:// URL printed at start. Only the documented demo
// login of the zero-setup default carries its password.
func readyURL(cfg config.Config, addr string) string {
	addr = dialable(addr)
	if len(cfg.Users) == 0 {
		return "ftp://" + addr + "/"
	}
	u := cfg.Users[0]
	if u.Name == "demo" && u.Password == "demo" {
		return "ftp://demo:demo@" + addr + "/ (user demo, password demo)"
	}
	return "ftp://" + u.Name + "@" + addr + "/"
}

// mfmtMax maps uploads.mfmt_max_size (0: refuse MFMT) to
// s3fs.Options.MFMTMaxSize (negative: refuse).
func mfmtMax(n config.Size) int64 {
	if n == 0 {
		return -1
	}
	return int64(n)
}

// dialable is a listen address as a client on this host dials it: an
// unspecified IP (0.0.0.0, [::]) becomes the loopback address of its
// family; IPv6 stays bracketed.
func dialable(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	if ip, err := netip.ParseAddr(host); err == nil && ip.IsUnspecified() {
		if ip.Is4() {
			host = "127.0.0.1"
		} else {
			host = "::1"
		}
	}
	return net.JoinHostPort(host, port)
}
