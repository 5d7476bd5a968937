package s3fs

import (
	"context"
	"fmt"
	"maps"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/s3ftpd/s3ftpd/internal/embeds3/embeds3test"
)

// server is an S3-compatible server the storage tests run against: the
// shared embedded store, or a separate versitygw process.
type server struct {
	name                     string
	endpoint, access, secret string
	root                     string // directory of the buckets (posix backend)
	buckets                  atomic.Int64
}

// gwProcess is set while TestVersityGWProcess runs its subtests (which do
// not run in parallel), nil otherwise.
var gwProcess *server

// serverFor is the server of test t: the versitygw process for the
// subtests of TestVersityGWProcess, the embedded store otherwise.
func serverFor(t *testing.T) *server {
	if gwProcess != nil && strings.HasPrefix(t.Name(), "TestVersityGWProcess/") {
		return gwProcess
	}
	st := embeds3test.Store()
	// The embedded gateway's working directory is its bucket root.
	return &server{name: "embedded", endpoint: st.Endpoint(), access: st.AccessKey(), secret: st.SecretKey(), root: "."}
}

// newBucket makes a fresh bucket and a plain SDK client for it.
func (s *server) newBucket(t *testing.T) (*s3.Client, string) {
	t.Helper()
	if s.name == "embedded" {
		return embeds3test.NewBucket(t)
	}
	c := s3.New(s3.Options{
		Region: "us-east-1", BaseEndpoint: aws.String(s.endpoint), UsePathStyle: true,
		Credentials: credentials.NewStaticCredentialsProvider(s.access, s.secret, ""),
	})
	name := fmt.Sprintf("gw-%d", s.buckets.Add(1))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(name)}); err != nil {
		t.Fatalf("create bucket on %s: %v", s.name, err)
	}
	return c, name
}

// versityGWBinary finds the versitygw binary that .ci/run installs
// (go install github.com/versity/versitygw/cmd/versitygw@v1.8.0). Without
// it the test is skipped, except under CI=true, where it fails.
func versityGWBinary(t *testing.T) string {
	t.Helper()
	gopath := os.Getenv("GOPATH")
	if gopath == "" {
		out, err := exec.Command("go", "env", "GOPATH").Output()
		if err == nil {
			gopath = strings.TrimSpace(string(out))
		}
	}
	bin := filepath.Join(gopath, "bin", "versitygw")
	if _, err := os.Stat(bin); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("versitygw not installed at %s (CI=true): %v", bin, err)
		}
		t.Skipf("versitygw not installed at %s; go install github.com/versity/versitygw/cmd/versitygw@v1.8.0", bin)
	}
	return bin
}

// startVersityGW runs versitygw's posix backend as a separate process on a
// free loopback port with its own directory; it is killed (by PID) when
// the test ends.
func startVersityGW(t *testing.T) *server {
	t.Helper()
	bin := versityGWBinary(t)
	// The embedded store chdir'ed into its own root: make paths absolute.
	dir, err := filepath.Abs(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	root := filepath.Join(dir, "root")
	if err := os.Mkdir(root, 0o755); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	logf, err := os.Create(filepath.Join(dir, "versitygw.log"))
	if err != nil {
		t.Fatal(err)
	}
	srv := &server{name: "versitygw", endpoint: "http://" + addr, access: "AKS3FTPDTEST", secret: "s3ftpd-test-secret", root: root}
	cmd := exec.Command(bin, "--port", addr, "--access", srv.access, "--secret", srv.secret, "--quiet", "posix", root)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
		logf.Close()
		if t.Failed() {
			if b, err := os.ReadFile(logf.Name()); err == nil && len(b) > 0 {
				t.Logf("versitygw log:\n%s", b)
			}
		}
	})
	c := s3.New(s3.Options{
		Region: "us-east-1", BaseEndpoint: aws.String(srv.endpoint), UsePathStyle: true,
		Credentials: credentials.NewStaticCredentialsProvider(srv.access, srv.secret, ""),
	})
	for i := 0; ; i++ {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_, err := c.ListBuckets(ctx, &s3.ListBucketsInput{})
		cancel()
		if err == nil {
			return srv
		}
		select {
		case werr := <-exited:
			t.Fatalf("versitygw exited: %v", werr)
		case <-time.After(100 * time.Millisecond):
		}
		if i == 300 {
			t.Fatalf("versitygw on %s does not answer: %v", addr, err)
		}
	}
}

// storageTests are the tests that run again against the versitygw
// process: everything that talks to S3 (not the pure unit tests).
func storageTests() map[string]func(*testing.T) {
	return map[string]func(*testing.T){
		"Stat": TestStat, "List": TestList, "OpenOffsets": TestOpenOffsets, "MkdirRmdir": TestMkdirRmdir,
		"UploadSizes": TestUploadSizes, "Overwrite": TestOverwrite, "AbortKeepsOldObject": TestAbortKeepsOldObject,
		"CancelMidUpload": TestCancelMidUpload, "CreateOverDirectory": TestCreateOverDirectory,
		"ServerVerifiesChecksum": TestServerVerifiesChecksum, "CommitCancelled": TestCommitCancelled,
		"RenameFile": TestRenameFile, "RenameErrors": TestRenameErrors, "RenameDir": TestRenameDir,
		"RenameMultipartCopy": TestRenameMultipartCopy, "RenameTreeFailure": TestRenameTreeFailure,
		"ListStreamsPages": TestListStreamsPages,
		"PartialResume":    TestPartialResume, "PartialResumeTwice": TestPartialResumeTwice,
		"PartialBigTail": TestPartialBigTail, "PartialAfterKill": TestPartialAfterKill,
		"PartialExpires": TestPartialExpires, "PartialStale": TestPartialStale,
		"NonAtomicAbort": TestNonAtomicAbort, "Append": TestAppend, "RemovePartial": TestRemovePartial,
		"Hash": TestHash, "SetModTime": TestSetModTime, "ObjectProperties": TestObjectProperties,
		"RenameTempUpload": TestRenameTempUpload, "OddNames": TestOddNames,
		"InterruptedOverwrite": TestInterruptedOverwrite, "InterruptedAppend": TestInterruptedAppend,
		"IdenticalReuploadSupersedesPartial": TestIdenticalReuploadSupersedesPartial,
		"ResumeCommitIsConditional":          TestResumeCommitIsConditional,
		"RenameKeepsReplacedSource":          TestRenameKeepsReplacedSource, "ConditionalProbe": TestConditionalProbe,
		"AppendAfterKill": TestAppendAfterKill, "DownloadContinuesAfterReset": TestDownloadContinuesAfterReset,
		"StallTimeoutEndsHungRequests": TestStallTimeoutEndsHungRequests,
		"CommitAfterKill":              TestCommitAfterKill, "CommitAfterKillKeepsNewerFile": TestCommitAfterKillKeepsNewerFile,
		"FailedCommitStaysPartial": TestFailedCommitStaysPartial,
	}
}

// TestVersityGWProcess runs the storage tests against versitygw v1.8.0 as
// a separate process (a real S3 server over the network, not the embedded
// one): the same code path as an external S3 store with endpoint and
// path_style.
func TestVersityGWProcess(t *testing.T) {
	gwProcess = startVersityGW(t)
	defer func() { gwProcess = nil }()
	tests := storageTests()
	for _, name := range slices.Sorted(maps.Keys(tests)) {
		t.Run(name, tests[name])
	}
}
