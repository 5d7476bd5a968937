package s3fs

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"testing"

	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/s3ftpd/s3ftpd/internal/ftp"
)

func TestPartReader(t *testing.T) {
	pool := newBlockPool()
	for _, size := range []int{0, 1, blockSize - 1, blockSize, blockSize + 1, 3*blockSize + 17} {
		var p partBuf
		want := make([]byte, size)
		for i := range want {
			want[i] = byte(i*31 + size)
		}
		src := want
		for len(src) > 0 {
			if len(p.room()) == 0 {
				p.addBlock(pool.get())
			}
			n := copy(p.room(), src)
			p.wrote(n)
			src = src[n:]
		}
		r := p.reader()
		if r.Len() != size {
			t.Fatalf("size %d: Len %d", size, r.Len())
		}
		got, err := io.ReadAll(r)
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("size %d: read %d bytes, err %v, equal %v", size, len(got), err, bytes.Equal(got, want))
		}
		// Rewind (as the SDK does to retry) and read from the middle.
		if pos, err := r.Seek(int64(size/2), io.SeekStart); err != nil || pos != int64(size/2) {
			t.Fatalf("seek: %d %v", pos, err)
		}
		got, _ = io.ReadAll(r)
		if !bytes.Equal(got, want[size/2:]) {
			t.Fatalf("size %d: read after seek differs", size)
		}
		if pos, _ := r.Seek(0, io.SeekEnd); pos != int64(size) {
			t.Fatalf("seek end: %d", pos)
		}
		if _, err := r.Seek(-1, io.SeekStart); err == nil {
			t.Fatal("negative seek accepted")
		}
		p.free(pool)
	}
}

func TestPartSizeSchedule(t *testing.T) {
	s := &Store{partSize: DefaultPartSize, maxParts: MaxParts, maxPart: maxPartFor(DefaultPartSize, DefaultBufferBudget)}
	flat := s.flatParts()
	if flat != 2048 {
		t.Errorf("%d flat parts of 5 MiB, want 2048 (10 GiB)", flat)
	}
	for _, c := range []struct {
		part int32
		want int64
	}{
		{1, 5 * mib}, {250, 5 * mib}, {flat, 5 * mib}, {flat + 1, 10 * mib}, {flat + 126, 20 * mib},
		{flat + 251, 40 * mib}, {flat + 376, 80 * mib}, {flat + 501, 128 * mib}, {MaxParts, 128 * mib},
	} {
		if got := s.partSizeOf(c.part); got != c.want {
			t.Errorf("part %d: %d MiB, want %d MiB", c.part, got/mib, c.want/mib)
		}
	}
	// Up to 10 GiB every part has the configured size: the memory an upload
	// holds does not grow on the way.
	var sum int64
	for n := int32(1); n <= flat; n++ {
		sum += s.partSizeOf(n)
	}
	if sum != 10<<30 {
		t.Errorf("the flat parts hold %d MiB, want 10 GiB", sum/mib)
	}
	// The defaults' share caps limit parts to 64 MiB: ~492 GiB; 128 MiB
	// parts (a 512 MiB budget): ~960 GiB.
	for _, c := range []struct{ maxPart, atLeast int64 }{{64 * mib, 490 << 30}, {128 * mib, 950 << 30}} {
		st := &Store{partSize: DefaultPartSize, maxParts: MaxParts, maxPart: c.maxPart}
		if got := st.maxUploadSize(); got < c.atLeast {
			t.Errorf("%d MiB parts reach %d GiB, want at least %d GiB", c.maxPart/mib, got>>30, c.atLeast>>30)
		}
	}
	// A 2 GiB budget reaches S3's 5 TiB limit; parts never exceed 5 GiB.
	big := &Store{partSize: DefaultPartSize, maxParts: MaxParts, maxPart: maxPartFor(DefaultPartSize, 2<<30)}
	if got := big.maxUploadSize(); got != MaxObjectSize {
		t.Errorf("2 GiB budget reaches %d GiB, want 5 TiB", got>>30)
	}
	huge := &Store{partSize: DefaultPartSize, maxParts: MaxParts, maxPart: maxPartFor(DefaultPartSize, 64<<30)}
	if got := huge.partSizeOf(MaxParts); got != MaxPartSize {
		t.Errorf("largest part %d, want %d", got, MaxPartSize)
	}
	// A tiny budget still allows one part.
	if got := maxPartFor(MinPartSize, MinPartSize); got != MinPartSize {
		t.Errorf("maxPartFor(min, min) = %d", got)
	}
}

// A store that keeps fewer parts an object (the embedded store on ext4)
// gets the schedule squeezed into them: the largest upload uses at most
// that many parts and is still tens of GiB, not 2.5 GiB of 5 MiB parts.
func TestPartSizeScheduleFewerParts(t *testing.T) {
	s, err := New(newTestClientStub(), Options{Bucket: "b", MaxParts: 512})
	if err != nil {
		t.Fatal(err)
	}
	if s.maxObject < 20<<30 {
		t.Errorf("512 parts hold %d GiB, want at least 20", s.maxObject>>30)
	}
	var sum int64
	n := int32(0)
	for sum < s.maxObject {
		n++
		sum += s.partSizeOf(n)
	}
	if n > 512 {
		t.Errorf("the largest upload takes %d parts, want at most 512", n)
	}
	if got := s.partSizeOf(s.flatParts()); got != DefaultPartSize || s.flatParts() < 100 {
		t.Errorf("%d flat parts, the last %d MiB", s.flatParts(), got/mib)
	}
	if _, err := New(newTestClientStub(), Options{Bucket: "b", MaxParts: MaxParts + 1}); err == nil {
		t.Error("more parts than S3 allows accepted")
	}
}

// The part-size schedule respects the per-client shares of the budget
// (issue #15): with the defaults a part is at most 64 MiB (a quarter of
// 256 MiB) and an object at most ~492 GiB; 4 GiB reach S3's 5 TiB.
func TestPartSizeWithinShares(t *testing.T) {
	for _, c := range []struct {
		budget, maxPart, minObject int64
	}{
		{DefaultBufferBudget, 64 * mib, 490 << 30},
		{1 << 30, 256 * mib, 1800 << 30},
		{4 << 30, 1 << 30, MaxObjectSize},
	} {
		s, err := New(newTestClientStub(), Options{Bucket: "b", BufferBudget: c.budget})
		if err != nil {
			t.Fatal(err)
		}
		if s.maxPart != c.maxPart || s.maxObject < c.minObject {
			t.Errorf("budget %d MiB: largest part %d MiB, object %d GiB; want %d MiB, >= %d GiB",
				c.budget>>20, s.maxPart>>20, s.maxObject>>30, c.maxPart>>20, c.minObject>>30)
		}
	}
	// 100 % shares: the old schedule.
	s, err := New(newTestClientStub(), Options{Bucket: "b", BufferIPShare: 100, BufferUserShare: 100, BufferSessionShare: 100})
	if err != nil {
		t.Fatal(err)
	}
	if s.maxPart != 128*mib {
		t.Errorf("no shares: largest part %d MiB, want 128", s.maxPart>>20)
	}
}

func TestNewValidates(t *testing.T) {
	c := newTestClientStub()
	for _, o := range []Options{
		{},
		{Bucket: "b", PartSize: MinPartSize - 1},
		{Bucket: "b", PartSize: MaxPartSize + 1},
		{Bucket: "b", Concurrency: -1},
		{Bucket: "b", BufferBudget: DefaultPartSize - 1},
	} {
		if _, err := New(c, o); err == nil {
			t.Errorf("New(%+v) accepted", o)
		}
	}
	if _, err := New(nil, Options{Bucket: "b"}); err == nil {
		t.Error("New(nil client) accepted")
	}
	s, err := New(c, Options{Bucket: "b", Prefix: "/p/q/"})
	if err != nil {
		t.Fatal(err)
	}
	if s.prefix != "p/q" || s.partSize != DefaultPartSize || s.concurrency != DefaultConcurrency {
		t.Fatalf("defaults: %+v", s)
	}
}

func TestMapErr(t *testing.T) {
	httpErr := func(status int) error {
		return &awshttp.ResponseError{ResponseError: &smithyhttp.ResponseError{
			Response: &smithyhttp.Response{Response: &http.Response{StatusCode: status}},
			Err:      errors.New("sdk text"),
		}}
	}
	for _, c := range []struct {
		err  error
		want error
	}{
		{&types.NoSuchKey{}, fs.ErrNotExist},
		{&types.NotFound{}, fs.ErrNotExist},
		{&smithy.GenericAPIError{Code: "AccessDenied"}, fs.ErrPermission},
		{&smithy.GenericAPIError{Code: "EntityTooLarge"}, ftp.ErrTooLarge},
		{&smithy.GenericAPIError{Code: "ObjectParentIsFile"}, fs.ErrExist},
		{httpErr(404), fs.ErrNotExist},
		{httpErr(403), fs.ErrPermission},
		{httpErr(416), fs.ErrInvalid},
		{fmt.Errorf("x: %w", fs.ErrExist), fs.ErrExist},
	} {
		got := mapErr("op", "/n", c.err)
		if !errors.Is(got, c.want) {
			t.Errorf("%v: mapped to %v, want %v", c.err, got, c.want)
		}
		if !errors.Is(got, c.err) {
			t.Errorf("%v: original error not kept", c.err)
		}
	}
	// Unknown and transient errors stay unclassified (the ftp layer's 451).
	for _, err := range []error{httpErr(500), &smithy.GenericAPIError{Code: "SlowDown"}, errors.New("net")} {
		if got := classify(mapErr("op", "/n", err)); got != nil {
			t.Errorf("%v classified as %v", err, got)
		}
	}
}

func TestCopySource(t *testing.T) {
	if got := copySource("bkt", "a b/c+d%e/ü~_.-"); got != "bkt/a%20b/c%2Bd%25e/%C3%BC~_.-" {
		t.Fatalf("copySource = %q", got)
	}
}

// newTestClientStub is a client that is never used to send.
func newTestClientStub() *s3.Client { return s3.New(s3.Options{Region: "us-east-1"}) }
