// Package embeds3 runs an S3-compatible store inside the s3ftpd process: the
// versitygw gateway (Apache-2.0) with its posix backend, listening on a
// loopback HTTP port. It is what s3ftpd uses when no S3 is configured.
//
// Constraints inherited from versitygw v1.8.0 (see DESIGN.md):
//
//   - Only one gateway can run per process (it keeps package globals);
//     Start refuses a second concurrent store.
//   - posix.New calls os.Chdir into the data directory and later resolves
//     bucket and object paths relative to the working directory. The
//     process's working directory therefore IS the store's root for as long
//     as the store runs (and stays there after Close). Resolve every relative
//     path (config files, certificates, test data) before calling Start.
//   - Object keys are file paths: "x" and "x/y" cannot both exist, and
//     ".sgwtmp" is the gateway's temporary directory in every bucket.
//   - Nothing is fsynced: a power loss can lose recently written objects. A
//     killed process loses nothing that was committed.
//   - Stopping waits (up to 10 s, fasthttp) for clients' idle keep-alive
//     connections: close them first (s3fs.CloseIdleConnections).
//   - versitygw writes to stdout directly. Start avoids its "No IAM service
//     configured" line by passing the single-account IAM itself, and its
//     "Using sidecar directory" line by not naming the sidecar in
//     PosixOpts (the storer is passed in), so nothing is printed.
//
// On-disk layout under Options.Dir:
//
//	Dir/buckets/<bucket>/<key>   the gateway root: one directory per bucket
//	Dir/meta/                    sidecar metadata, only when the filesystem
//	                             has no user xattrs (otherwise metadata lives
//	                             in xattrs on the files themselves)
package embeds3

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/versity/versitygw/auth"
	"github.com/versity/versitygw/backend/posix"
	"github.com/versity/versitygw/embedgw"
	"github.com/versity/versitygw/s3api"
)

// DefaultBucket is the bucket created when Options.Bucket is empty.
const DefaultBucket = "s3ftpd"

// Region is the region the embedded gateway reports and signs with.
const Region = "us-east-1"

// startTimeout bounds how long Start waits for the gateway to listen and
// answer before giving up (the caller's ctx may end it sooner).
const startTimeout = 30 * time.Second

// ErrAlreadyRunning is returned by Start while another Store is running in
// this process (versitygw supports one gateway per process).
var ErrAlreadyRunning = errors.New("embeds3: an embedded store is already running in this process")

// running guards the one-gateway-per-process limit. This is the only package
// global: versitygw itself keeps process-wide state (bucket-name validation,
// debug logging, the process working directory), so a second concurrent
// store cannot work and must be refused before it touches anything.
var running atomic.Bool

// Options configure an embedded store.
type Options struct {
	// Dir is the data directory; it is created if missing and resolved to
	// an absolute path before versitygw changes the working directory.
	Dir string
	// Listen is "host:port"; "" picks a free port on 127.0.0.1.
	Listen string
	// AccessKey and SecretKey are the root credentials; "" generates random
	// ones (read them back with Store.AccessKey/SecretKey).
	AccessKey string
	SecretKey string
	// Bucket is created if missing (default DefaultBucket).
	Bucket string
	// Buckets are more buckets created if missing: those users' homes
	// name (home: s3://bucket/prefix).
	Buckets []string
	// Logger receives start/stop and clean-up messages (default slog.Default()).
	Logger *slog.Logger
	// KeepUploads leaves the multipart uploads of earlier runs alone
	// instead of aborting them at start: s3fs keeps them as resumable
	// partial uploads and expires them itself.
	KeepUploads bool

	// forceSideCar stores metadata in Dir/meta even when xattrs work
	// (tests exercise the sidecar layout on filesystems that have xattrs).
	forceSideCar bool
}

// Store is a running embedded gateway.
type Store struct {
	endpoint    string
	bucket      string
	buckets     []string
	keepUploads bool
	maxParts    int32 // layout.maxParts
	accessKey   string
	secretKey   string
	log         *slog.Logger

	cancel context.CancelFunc
	done   chan struct{} // closed when RunVersityGW has returned
	runErr error         // RunVersityGW's result, valid after done

	closeOnce sync.Once
	lock      *os.File // flock on the data directory, released by Close
}

// Start runs the gateway in the background. It returns once the S3 endpoint
// answers and the bucket exists, or an error if the gateway cannot start
// (port in use, unusable directory, …). ctx bounds the start-up only; stop
// the store with Close.
func Start(ctx context.Context, opts Options) (*Store, error) {
	if !running.CompareAndSwap(false, true) {
		return nil, ErrAlreadyRunning
	}
	s, err := start(ctx, opts)
	if err != nil {
		running.Store(false)
		return nil, err
	}
	return s, nil
}

func start(ctx context.Context, opts Options) (*Store, error) {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Bucket == "" {
		opts.Bucket = DefaultBucket
	}
	if opts.AccessKey == "" {
		opts.AccessKey = randomKey(accessKeyLen)
	}
	if opts.SecretKey == "" {
		opts.SecretKey = randomKey(secretKeyLen)
	}
	lay, err := prepareLayout(opts.Dir, opts.forceSideCar)
	if err != nil {
		return nil, err
	}
	lock, err := lockDir(lay.base)
	if err != nil {
		return nil, err
	}
	s, err := startLocked(ctx, opts, lay)
	if err != nil {
		lock.Close()
		return nil, err
	}
	s.lock = lock
	return s, nil
}

func startLocked(ctx context.Context, opts Options, lay layout) (*Store, error) {
	var err error
	log := opts.Logger.With("component", "embeds3")
	cleanTempFiles(lay.root, log)

	ctx, cancelStart := context.WithTimeout(ctx, startTimeout)
	defer cancelStart()

	// A free port chosen by listen-and-close can be taken by someone else
	// before the gateway binds it: retry with a new one a few times.
	attempts := 1
	if opts.Listen == "" {
		attempts = 5
	}
	for i := 0; ; i++ {
		listen := opts.Listen
		if listen == "" {
			if listen, err = freeLoopbackAddr(); err != nil {
				return nil, err
			}
		}
		s, err := launch(ctx, lay, opts, listen, log)
		if err == nil {
			return s, nil
		}
		if i+1 >= attempts || !errors.Is(err, syscall.EADDRINUSE) || ctx.Err() != nil {
			return nil, err
		}
		log.Debug("embedded S3 port taken, retrying", "addr", listen, "err", err)
	}
}

// errBind marks a gateway that stopped before it listened (typically the
// address is in use).
var errBind = errors.New("embeds3: gateway did not start listening")

// launch starts one gateway on listen and waits until it serves requests.
func launch(ctx context.Context, lay layout, opts Options, listen string, log *slog.Logger) (*Store, error) {
	be, err := posix.New(lay.root, lay.meta, posix.PosixOpts{
		// Zero would make every CopyObject fail; 5 GiB is S3's limit.
		CopyObjectThreshold: 5 << 30,
		// The sidecar storer is lay.meta; PosixOpts.SideCarDir would only
		// check it lies outside the root (prepareLayout makes it a
		// sibling) and print a line to stdout.
	})
	if err != nil {
		return nil, fmt.Errorf("embeds3: open posix backend in %s: %w", lay.root, err)
	}

	listening := make(chan struct{})
	var listenOnce sync.Once
	cfg := &embedgw.Config{
		RootUserAccess: opts.AccessKey,
		RootUserSecret: opts.SecretKey,
		Region:         Region,
		Ports:          []string{listen},
		// The store serves this process alone, whose sessions, upload
		// budget and download budget already bound what it asks at once:
		// a limit here only turns load into 503s (1 000 sessions made
		// more than 1 000 requests at once, and the SDK's retry quota ran
		// out: 451 on every command; test/load). versitygw's defaults.
		MaxConnections:    250000,
		MaxRequests:       100000,
		MultipartMaxParts: lay.parts(),
		Quiet:             true,
		// Keep-alive spares a TCP connection (and a TIME_WAIT socket) per
		// request; the price is that shutdown waits (up to 10 s) for
		// clients' idle connections, so clients close them before Close
		// (s3fs.CloseIdleConnections).
		KeepAlive: true,
		// Passing the single-account IAM ourselves skips auth.New, which
		// prints "No IAM service configured…" to stdout.
		IAMService: auth.NewIAMServiceSingle(auth.Account{
			Access: opts.AccessKey,
			Secret: opts.SecretKey,
			Role:   auth.RoleAdmin,
		}),
		S3Options: []s3api.Option{
			s3api.WithOnListen(func() { listenOnce.Do(func() { close(listening) }) }),
		},
	}

	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	s := &Store{
		endpoint:    "http://" + endpointHost(listen),
		bucket:      opts.Bucket,
		buckets:     opts.Buckets,
		keepUploads: opts.KeepUploads,
		maxParts:    lay.maxParts,
		accessKey:   opts.AccessKey,
		secretKey:   opts.SecretKey,
		log:         log,
		cancel:      cancel,
		done:        make(chan struct{}),
	}
	go func() {
		defer close(s.done)
		s.runErr = embedgw.RunVersityGW(runCtx, be, cfg)
	}()

	select {
	case <-listening:
	case <-s.done:
		cancel()
		return nil, fmt.Errorf("%w on %s: %w", errBind, listen, s.runErr)
	case <-ctx.Done():
		s.stop()
		return nil, fmt.Errorf("embeds3: waiting for the gateway on %s: %w", listen, ctx.Err())
	}

	if err := s.ready(ctx); err != nil {
		s.stop()
		return nil, err
	}
	log.Info("embedded S3 store running", "endpoint", s.endpoint, "bucket", s.bucket,
		"dir", lay.base, "metadata", lay.kind(), "max_parts", lay.parts())
	return s, nil
}

// endpointHost turns a listen address into one a client can dial: an empty
// or unspecified host becomes 127.0.0.1.
func endpointHost(listen string) string {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return listen
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port)
}

// Endpoint is the S3 endpoint URL, e.g. "http://127.0.0.1:PORT".
func (s *Store) Endpoint() string { return s.endpoint }

// MaxParts is the most parts an object in this store can have (for
// s3fs.Options.MaxParts); 0: S3's 10 000.
func (s *Store) MaxParts() int32 { return s.maxParts }

// Bucket is the bucket Start created (or found).
func (s *Store) Bucket() string { return s.bucket }

// AccessKey is the root access key.
func (s *Store) AccessKey() string { return s.accessKey }

// SecretKey is the root secret key.
func (s *Store) SecretKey() string { return s.secretKey }

// Close stops the gateway and waits until it has shut down. Afterwards a new
// store may be started (on the same or another directory).
func (s *Store) Close() error {
	var err error
	s.closeOnce.Do(func() {
		s.stop()
		s.lock.Close()
		running.Store(false)
		if s.runErr != nil && !errors.Is(s.runErr, context.Canceled) {
			err = fmt.Errorf("embeds3: gateway stopped with: %w", s.runErr)
		}
		s.log.Info("embedded S3 store stopped", "endpoint", s.endpoint)
	})
	return err
}

// stop cancels the gateway and waits for RunVersityGW to return.
func (s *Store) stop() {
	s.cancel()
	<-s.done
}
