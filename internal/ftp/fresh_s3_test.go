package ftp_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	client "github.com/jlaffaye/ftp"

	"github.com/s3ftpd/s3ftpd/internal/embeds3/embeds3test"
	"github.com/s3ftpd/s3ftpd/internal/ftp"
	"github.com/s3ftpd/s3ftpd/internal/s3fs"
)

// Freshness rule (DESIGN.md "Fast on a real store"): what someone else
// puts straight into S3 shows in LIST, MLSD, SIZE and MDTM at once, and
// what someone else deletes there is gone at once, even right after the
// session listed or sized it. Only what the session itself stored, and
// directories it saw, are reused from memory (s3fs own.go, ftp dirs.go).
func TestForeignChangesShowAtOnceS3(t *testing.T) {
	client, bucket := embeds3test.NewBucket(t)
	store, err := s3fs.New(client, s3fs.Options{Bucket: bucket, Prefix: "tenant", ResumeWindow: 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	store.Sweep(ctx) // the marker index is ready: the common path asks no marker
	srv := startWith(t, backend{"s3", func(*testing.T) ftp.FS { return store.FS("/home/alice") }}, nil)
	c := login(t, srv.Addr)
	if err := c.MakeDir("d"); err != nil {
		t.Fatal(err)
	}
	if err := c.ChangeDir("d"); err != nil {
		t.Fatal(err)
	}
	names := func() []string {
		t.Helper()
		es, err := c.List("")
		if err != nil {
			t.Fatalf("LIST: %v", err)
		}
		var out []string
		for _, e := range es {
			out = append(out, e.Name)
		}
		return out
	}
	key := "tenant/home/alice/d/foreign.txt"
	put := func(body string) {
		t.Helper()
		if _, err := client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key),
			Body: strings.NewReader(body)}); err != nil {
			t.Fatal(err)
		}
	}
	// Asked before it exists: no negative answer is kept.
	if _, err := c.FileSize("foreign.txt"); err == nil {
		t.Fatal("SIZE of a missing file succeeded")
	}
	if got := names(); slices.Contains(got, "foreign.txt") {
		t.Fatalf("LIST before the PUT: %q", got)
	}
	put("12345")
	if n, err := c.FileSize("foreign.txt"); err != nil || n != 5 {
		t.Fatalf("SIZE right after a foreign PUT = %d, %v; want 5", n, err)
	}
	if _, err := c.GetTime("foreign.txt"); err != nil {
		t.Fatalf("MDTM right after a foreign PUT: %v", err)
	}
	if got := names(); !slices.Contains(got, "foreign.txt") {
		t.Fatalf("LIST right after a foreign PUT: %q", got)
	}
	// Replaced, then deleted, by someone else, right after this session
	// listed and sized it.
	put("1234567")
	if n, err := c.FileSize("foreign.txt"); err != nil || n != 7 {
		t.Fatalf("SIZE right after a foreign overwrite = %d, %v; want 7", n, err)
	}
	if _, err := client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)}); err != nil {
		t.Fatal(err)
	}
	if n, err := c.FileSize("foreign.txt"); err == nil {
		t.Fatalf("SIZE right after a foreign DELETE = %d, want 550", n)
	}
	if _, err := c.GetTime("foreign.txt"); err == nil {
		t.Fatal("MDTM right after a foreign DELETE succeeded")
	}
	if got := names(); slices.Contains(got, "foreign.txt") {
		t.Fatalf("LIST right after a foreign DELETE: %q", got)
	}
	// A directory put straight into S3 can be entered at once.
	if _, err := client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket),
		Key: aws.String("tenant/home/alice/other/x.txt"), Body: strings.NewReader("x")}); err != nil {
		t.Fatal(err)
	}
	if err := c.ChangeDir("/other"); err != nil {
		t.Fatalf("CWD into a directory put straight into S3: %v", err)
	}
	if got := names(); !slices.Equal(got, []string{"x.txt"}) {
		t.Fatalf("LIST of it: %q", got)
	}
	if err := c.ChangeDir("/nowhere"); err == nil || !strings.HasPrefix(err.Error(), "550") {
		t.Fatalf("CWD into a missing directory: %v", err)
	}
	if _, err := c.List("/nowhere"); err == nil || errors.Is(err, context.Canceled) {
		t.Fatalf("LIST of a missing directory: %v", err)
	}
}

// LIST of a file lists it and does not make the session take it for a
// directory (the listing doubles as the existence check; only a directory
// found is remembered).
func TestListOfAFileIsNoDirectory(t *testing.T) {
	for _, b := range []backend{memBackend, s3Backend} {
		t.Run(b.name, func(t *testing.T) {
			srv := startWith(t, b, nil)
			c := login(t, srv.Addr, client.DialWithDisabledMLSD(true)) // LIST, not MLSD (501 for a file)
			if err := c.Stor("f.txt", strings.NewReader("abc")); err != nil {
				t.Fatal(err)
			}
			es, err := c.List("f.txt")
			if err != nil || len(es) != 1 || es[0].Name != "f.txt" || es[0].Size != 3 {
				t.Fatalf("LIST f.txt = %v, %v", es, err)
			}
			if err := c.ChangeDir("f.txt"); err == nil || !strings.HasPrefix(err.Error(), "550") {
				t.Fatalf("CWD into a file after listing it: %v, want 550", err)
			}
			if err := c.Stor("f.txt/x", strings.NewReader("x")); err == nil || !strings.HasPrefix(err.Error(), "550") {
				t.Fatalf("STOR under a file after listing it: %v, want 550", err)
			}
		})
	}
}
