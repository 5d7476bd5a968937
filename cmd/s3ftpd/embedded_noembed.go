//go:build noembed

package main

import (
	"context"
	"errors"
	"log/slog"

	"github.com/s3ftpd/s3ftpd/internal/config"
)

// embeddedIncluded: built with -tags noembed, without the embedded store
// (versitygw and its dependencies): a smaller binary for production, which
// needs store.s3.bucket.
const embeddedIncluded = false

func startEmbedded(context.Context, config.Config, *slog.Logger) (embeddedStore, error) {
	return nil, errors.New("this s3ftpd was built without the embedded store (-tags noembed): set store.s3.bucket (and endpoint, credentials) to use an S3 store")
}
