package s3fs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/smithy-go"

	"github.com/s3ftpd/s3ftpd/internal/embeds3/embeds3test"
)

// TestStoreCheckClassifies runs the startup/readiness check against the
// embedded S3 store (versitygw, which checks signatures) with each thing an
// operator gets wrong, and wants each told apart.
func TestStoreCheckClassifies(t *testing.T) {
	st := embeds3test.Store()
	_, bucket := embeds3test.NewBucket(t)
	// A port with nothing listening: the endpoint is unreachable.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + l.Addr().String()
	l.Close()
	for _, c := range []struct {
		name, endpoint, bucket, access, secret, prefix string
		want                                           string // "" is no problem
	}{
		{"good", st.Endpoint(), bucket, st.AccessKey(), st.SecretKey(), "", ""},
		{"good with a prefix", st.Endpoint(), bucket, st.AccessKey(), st.SecretKey(), "ftp/in", ""},
		{"wrong bucket", st.Endpoint(), "no-such-bucket-" + bucket, st.AccessKey(), st.SecretKey(), "", ProblemNoBucket},
		{"wrong secret", st.Endpoint(), bucket, st.AccessKey(), st.SecretKey() + "x", "", ProblemSignature},
		{"wrong access key", st.Endpoint(), bucket, "AKIDNOSUCHKEY", st.SecretKey(), "", ProblemAccessKey},
		{"unreachable", closed, bucket, st.AccessKey(), st.SecretKey(), "", ProblemUnreachable},
		{"no credentials", st.Endpoint(), bucket, "", "", "", ProblemNoCredentials},
	} {
		t.Run(c.name, func(t *testing.T) {
			if c.access == "" {
				// Nothing for the SDK's default chain to find, and no
				// instance metadata service to wait for.
				empty := filepath.Join(t.TempDir(), "none")
				for k, v := range map[string]string{"AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": "",
					"AWS_SESSION_TOKEN": "", "AWS_PROFILE": "", "AWS_EC2_METADATA_DISABLED": "true",
					"AWS_SHARED_CREDENTIALS_FILE": empty, "AWS_CONFIG_FILE": empty,
					"AWS_CONTAINER_CREDENTIALS_FULL_URI": "", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI": "",
					"AWS_WEB_IDENTITY_TOKEN_FILE": ""} {
					t.Setenv(k, v)
					if v == "" {
						os.Unsetenv(k)
					}
				}
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			client, err := NewClient(ctx, ClientOptions{Endpoint: c.endpoint, PathStyle: true, Region: "us-east-1",
				AccessKey: c.access, SecretKey: c.secret})
			if err != nil {
				t.Fatal(err)
			}
			defer CloseIdleConnections(client)
			s, err := New(client, Options{Bucket: c.bucket, Prefix: c.prefix,
				Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))})
			if err != nil {
				t.Fatal(err)
			}
			p := s.Check(ctx)
			switch {
			case c.want == "" && p != nil:
				t.Fatalf("a good store: %v (%v)", p, p.Err)
			case c.want == "":
				return
			case p == nil:
				t.Fatalf("no problem found, want %q", c.want)
			case p.Kind != c.want:
				t.Fatalf("kind %q, want %q: %v (%v)", p.Kind, c.want, p, p.Err)
			}
			if err := s.Ping(ctx); !errors.As(err, new(*StoreProblem)) {
				t.Errorf("Ping: %v, want the same problem", err)
			}
			t.Logf("%s: %v", c.name, p)
		})
	}
}

func TestDiagnoseAccessDenied(t *testing.T) {
	err := fmt.Errorf("operation error S3: ListObjectsV2: %w", &smithy.GenericAPIError{Code: "AccessDenied", Message: "Access Denied"})
	if p := Diagnose(err, "b"); p.Kind != ProblemAccessDenied || p.Code != "AccessDenied" || !strings.Contains(p.Error(), "IAM") {
		t.Errorf("%+v", p)
	}
}
