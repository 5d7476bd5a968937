//go:build !noembed

package main

import (
	"context"
	"log/slog"

	"github.com/s3ftpd/s3ftpd/internal/config"
	"github.com/s3ftpd/s3ftpd/internal/embeds3"
)

// embeddedIncluded: this build has the embedded store (see
// embedded_noembed.go for builds with -tags noembed).
const embeddedIncluded = true

// startEmbedded starts the embedded S3-compatible store of cfg.
func startEmbedded(ctx context.Context, cfg config.Config, log *slog.Logger) (embeddedStore, error) {
	e := cfg.Store.Embedded
	return embeds3.Start(ctx, embeds3.Options{
		Dir: e.Dir, Listen: e.Listen, AccessKey: e.AccessKey, SecretKey: e.SecretKey, Logger: log,
		// Multipart uploads of a killed run are partials: s3fs's
		// janitor makes them resumable or expires them.
		KeepUploads: cfg.Uploads.ResumeWindow > 0,
		Buckets:     cfg.HomeBuckets(),
	})
}
