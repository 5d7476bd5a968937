package main

import (
	"context"
	"log/slog"
	"time"

	"github.com/s3ftpd/s3ftpd/internal/ops"
	"github.com/s3ftpd/s3ftpd/internal/s3fs"
)

// Backoff of the repeated store check while it fails.
const (
	storeRetryFirst = 2 * time.Second
	storeRetryMax   = 30 * time.Second
)

// watchStore is the startup store check (s3fs.Store.Check: one list under
// the prefix). A problem does not stop the process: it is logged at ERROR,
// saying what is wrong (no such bucket, access denied, bad signature, no
// credentials, endpoint unreachable…), /readyz answers 503 (its probe is the
// same check), and the check and its ERROR line repeat, backing off from
// 2 s to 30 s, until it passes; then "store check passed" is logged and
// the conditional-request probe runs. Why start unready rather than exit:
// README "Store errors at start". ok is called once the check passes. The
// returned function waits for the watcher to end (after ctx ends); passed
// says whether the first check passed.
func watchStore(ctx context.Context, files *s3fs.Store, log *slog.Logger, attrs []any, notify *ops.Notifier, ok func()) (wait func(), passedFirst bool) {
	done := make(chan struct{})
	check := func() bool {
		cctx, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		p := files.Check(cctx)
		if p == nil {
			return true
		}
		if ctx.Err() == nil {
			_ = notify.Status("not ready: store check failed: " + p.Kind)
			log.Error("store check failed; not ready (/readyz 503) until it passes",
				append([]any{"problem", p.Kind, "s3_code", p.Code, "hint", p.Hint, "err", p.Err}, attrs...)...)
		}
		return false
	}
	passed := func() {
		log.Info("store check passed", attrs...)
		_ = notify.Status("serving; store check passed")
		ok()
	}
	if check() {
		passed()
		close(done)
		return func() {}, true
	}
	go func() {
		defer close(done)
		wait := storeRetryFirst
		for {
			select {
			case <-ctx.Done():
				return
			case <-time.After(wait):
			}
			if check() {
				passed()
				return
			}
			wait = min(2*wait, storeRetryMax)
		}
	}()
	return func() { <-done }, false
}

// embeddedStore is the embedded S3-compatible store as serve uses it.
type embeddedStore interface {
	Endpoint() string
	Bucket() string
	AccessKey() string
	SecretKey() string
	// MaxParts is the most parts an object can have there (0: S3's).
	MaxParts() int32
	// EnsureBuckets creates the home buckets a reloaded config names.
	EnsureBuckets(ctx context.Context, names []string) error
	Close() error
}
