package embeds3

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

const (
	accessKeyLen = 20
	secretKeyLen = 40
)

// randomKey returns n random characters from the base32 alphabet
// ([A-Z2-7], like AWS key ids).
func randomKey(n int) string {
	var k string
	for len(k) < n {
		k += rand.Text()
	}
	return k[:n]
}

// freeLoopbackAddr asks the kernel for a free port on 127.0.0.1. The port is
// released before the gateway binds it; Start retries if it is taken.
func freeLoopbackAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("embeds3: find a free port: %w", err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr, nil
}

// client is a plain SDK client for the store's own housekeeping, with an
// HTTP transport the caller closes: the gateway (fasthttp) waits up to 10 s
// on shutdown for every keep-alive connection still open.
func (s *Store) client() (*s3.Client, *http.Transport) {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.Proxy = nil // loopback only
	return s3.New(s3.Options{
		Region:       Region,
		BaseEndpoint: aws.String(s.endpoint),
		UsePathStyle: true,
		Credentials:  credentials.NewStaticCredentialsProvider(s.accessKey, s.secretKey, ""),
		HTTPClient:   &http.Client{Transport: tr},
	}), tr
}

// ready waits until the gateway answers S3 requests, makes sure the bucket
// exists and removes multipart uploads a previous run left behind (unless
// KeepUploads).
func (s *Store) ready(ctx context.Context) error {
	c, tr := s.client()
	defer tr.CloseIdleConnections()
	cutoff := time.Now()
	for {
		err := ensureBucket(ctx, c, s.bucket)
		if err == nil {
			break
		}
		select {
		case <-s.done:
			return fmt.Errorf("embeds3: gateway stopped during start-up: %w", s.runErr)
		case <-ctx.Done():
			return fmt.Errorf("embeds3: bucket %q not ready: %w", s.bucket, err)
		case <-time.After(50 * time.Millisecond):
		}
	}
	if err := s.EnsureBuckets(ctx, s.buckets); err != nil {
		return err
	}
	if !s.keepUploads {
		abortStaleUploadsAll(ctx, c, cutoff, s.log)
	}
	return nil
}

// EnsureBuckets creates those of names that do not exist yet (the home
// buckets a reloaded config names; Options.Buckets at the start).
func (s *Store) EnsureBuckets(ctx context.Context, names []string) error {
	c, tr := s.client()
	defer tr.CloseIdleConnections()
	for _, b := range names {
		if err := ensureBucket(ctx, c, b); err != nil {
			return fmt.Errorf("embeds3: bucket %q: %w", b, err)
		}
	}
	return nil
}

// ensureBucket creates bucket unless it exists.
func ensureBucket(ctx context.Context, c *s3.Client, bucket string) error {
	if _, err := c.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String(bucket)}); err == nil {
		return nil
	}
	_, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)})
	var owned *types.BucketAlreadyOwnedByYou
	if err == nil || errors.As(err, &owned) {
		return nil
	}
	return err
}
