// Package s3fs implements ftp.FS on S3 (or any S3-compatible store) with
// aws-sdk-go-v2.
//
// Mapping: a file is an object; a directory is a common prefix or a "dir/"
// marker object (Mkdir writes one, so empty directories exist); the home
// directory always exists. Uploads stream into multipart uploads through
// a process-wide memory budget (see upload.go and budget.go); an
// interrupted upload is kept as a resumable partial (partial.go), which
// Resume continues or appends to server-side (resume.go).
package s3fs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"path"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/s3ftpd/s3ftpd/internal/ftp"
)

// Defaults and S3 limits.
const (
	// DefaultPartSize is S3's smallest part: an upload holds its filling
	// part plus DefaultConcurrency parts in flight (25 MiB; 8 MiB parts
	// held 40 MiB and set the process's peak RSS), and a part of 5 MiB still
	// spends ~4/5 of its time moving data at 20 ms per request.
	DefaultPartSize     = MinPartSize
	MinPartSize         = 5 << 20 // S3: every part but the last is at least 5 MiB
	MaxPartSize         = 5 << 30 // S3: a part (and a PutObject) is at most 5 GiB
	MaxParts            = 10000   // S3: parts per multipart upload
	MaxObjectSize       = 5 << 40 // S3: 5 TiB per object
	DefaultConcurrency  = 4
	DefaultBufferBudget = 256 << 20
	// DefaultResumeWindow is how long config keeps partials by default.
	DefaultResumeWindow = 24 * time.Hour
)

// Options configure a Store.
type Options struct {
	Bucket string
	// Prefix is prepended to every key ("" or "a/b"; slashes are trimmed).
	Prefix string
	// PartSize is the initial multipart part size (default 5 MiB, the
	// minimum); see partsize.go for how it grows.
	PartSize int64
	// MaxParts is the most parts the store keeps for one object (0: S3's
	// 10 000). The part-size schedule fits into it (partsize.go); the
	// embedded store on ext4 sets it lower (embeds3.Store.MaxParts).
	MaxParts int32
	// Concurrency is how many parts of one upload are sent at once
	// (default 4).
	Concurrency int
	// BufferBudget bounds the bytes of upload buffers in the whole process
	// (default 256 MiB). Write blocks while it is exhausted, for at most
	// BufferWait (default 30s; then ftp.ErrBufferBusy, 452).
	BufferBudget int64
	BufferWait   time.Duration
	// BufferIPShare, BufferUserShare and BufferSessionShare are the
	// percentages of BufferBudget that one client IP (IPv6: its /64), one
	// user and one upload may hold (default 25 each; 100: no cap). A share
	// smaller than the part size is raised to it. See budget.go.
	BufferIPShare, BufferUserShare, BufferSessionShare int
	// Object holds the properties of every stored object (Content-Type
	// comes from the name); a User's Object overrides it field by field.
	Object ObjectOptions
	// ResumeWindow is how long an interrupted upload is kept as a
	// resumable partial (see partial.go) before Maintain deletes it. Zero
	// keeps no partials: an interrupted upload is discarded.
	ResumeWindow time.Duration
	// NonAtomic stores what an interrupted upload received as the object
	// (vsftpd's behaviour) instead of keeping the old object. A partial is
	// kept only when that store fails.
	NonAtomic bool
	// MFMTMaxSize is the largest file MFMT sets the time of (a server-side
	// copy of the whole object, see SetModTime); larger ones are refused
	// (504). 0: no limit; negative: MFMT is refused for every file.
	MFMTMaxSize int64
	// Peers: the other processes on this bucket (a cluster); nil: none.
	Peers Peers
	// Swept, if set, is told what each janitor sweep did (metrics).
	Swept func(adopted, completed, expired int)
	// Partial, if set, is told when an interrupted upload is kept as a
	// partial ("kept") and when an upload continues one ("resumed").
	Partial func(event string)
	Logger  *slog.Logger
}

// Store is one bucket (and prefix) shared by every user's FS.
type Store struct {
	client      *s3.Client
	bucket      string
	prefix      string
	partSize    int64
	maxParts    int32 // Options.MaxParts
	maxPart     int64
	maxObject   int64
	concurrency int
	budget      *ftp.Budget
	sessionCap  int64 // what one upload may hold of budget
	blocks      *blockPool
	log         *slog.Logger
	baseLog     *slog.Logger // Options.Logger, for other buckets' logs
	buckets     *buckets     // other buckets users' homes name (buckets.go)

	object       ObjectOptions
	resumeWindow time.Duration
	nonAtomic    bool
	mfmtMax      int64 // Options.MFMTMaxSize
	live         *liveUploads
	peers        Peers
	swept        func(adopted, completed, expired int)
	partialEvent func(event string)
	intents      *intents         // records of multipart uploads (intent.go)
	cursor       *sweepCursor     // where the janitor goes on
	partialRoot  string           // key prefix of partial markers (partial.go)
	markers      *markerIndex     // which markers may exist (markers.go)
	now          func() time.Time // the janitor's clock (tests move it)

	cond *condState // what the store honours of conditional requests

	// Knobs tests lower to exercise paging and multipart copies cheaply.
	pageSize      int32 // ListObjectsV2 MaxKeys; 0 = server default (1000)
	copyThreshold int64 // larger objects are copied part by part
	copyPartMin   int64 // smallest part of a multipart copy
	sweepLimit    int   // uploads and markers one sweep looks at
}

// New checks o and builds a Store.
func New(client *s3.Client, o Options) (*Store, error) {
	if client == nil {
		return nil, errors.New("s3fs: nil S3 client")
	}
	if o.Bucket == "" {
		return nil, errors.New("s3fs: bucket is required")
	}
	if o.PartSize == 0 {
		o.PartSize = DefaultPartSize
	}
	if o.Concurrency == 0 {
		o.Concurrency = DefaultConcurrency
	}
	if o.BufferBudget == 0 {
		o.BufferBudget = DefaultBufferBudget
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.MaxParts == 0 {
		o.MaxParts = MaxParts
	}
	switch {
	case o.PartSize < MinPartSize || o.PartSize > MaxPartSize:
		return nil, fmt.Errorf("s3fs: part size %d outside [%d, %d]", o.PartSize, MinPartSize, MaxPartSize)
	case o.Concurrency < 1:
		return nil, fmt.Errorf("s3fs: concurrency %d must be at least 1", o.Concurrency)
	case o.BufferBudget < o.PartSize:
		return nil, fmt.Errorf("s3fs: buffer budget %d smaller than the part size %d", o.BufferBudget, o.PartSize)
	case o.BufferIPShare < 0 || o.BufferUserShare < 0 || o.BufferSessionShare < 0:
		return nil, errors.New("s3fs: negative buffer share")
	case o.MaxParts < 0 || o.MaxParts > MaxParts:
		return nil, fmt.Errorf("s3fs: max parts %d outside [1, %d]", o.MaxParts, MaxParts)
	case o.ResumeWindow < 0:
		return nil, fmt.Errorf("s3fs: negative resume window %v", o.ResumeWindow)
	}
	partSize := roundUpBlock(o.PartSize)
	ipCap, userCap, sessionCap := bufferCaps(o, partSize)
	prefix := strings.Trim(path.Clean("/"+o.Prefix), "/")
	s := &Store{
		client:        client,
		bucket:        o.Bucket,
		prefix:        prefix,
		partSize:      partSize,
		maxParts:      o.MaxParts,
		maxPart:       min(maxPartFor(partSize, o.BufferBudget), roundDownBlock(min(ipCap, userCap, sessionCap))),
		concurrency:   o.Concurrency,
		budget:        newBufferBudget(o, ipCap, userCap),
		sessionCap:    sessionCap,
		blocks:        newBlockPool(),
		log:           o.Logger.With("component", "s3fs", "bucket", o.Bucket),
		baseLog:       o.Logger,
		buckets:       &buckets{m: map[string]*Store{}},
		copyThreshold: MaxPartSize,
		copyPartMin:   defaultCopyPartMin,
		sweepLimit:    defaultSweepLimit,
		object:        o.Object,
		resumeWindow:  o.ResumeWindow,
		nonAtomic:     o.NonAtomic,
		mfmtMax:       o.MFMTMaxSize,
		live:          newLiveUploads(o.Peers),
		intents:       &intents{writing: map[string]chan struct{}{}},
		cursor:        &sweepCursor{},
		peers:         o.Peers,
		swept:         o.Swept,
		partialEvent:  o.Partial,
		partialRoot:   joinKey(prefix, partialDir),
		markers:       &markerIndex{off: o.Peers != nil},
		now:           time.Now,
		cond:          &condState{},
	}
	s.maxObject = s.maxUploadSize()
	return s, nil
}

// MaxUploadSize is the largest object an upload can make (the part-size
// schedule within the store's parts and the buffer budget).
func (s *Store) MaxUploadSize() int64 { return s.maxObject }

// BufferInUse is the upload buffer budget reserved now, in bytes.
func (s *Store) BufferInUse() int64 { return s.budget.InUse() }

// BufferBudget is the upload buffer budget itself (its waits and refusals,
// for metrics).
func (s *Store) BufferBudget() *ftp.Budget { return s.budget }

// FS returns the view of the store rooted at home ("/" or "/alice"): a name
// "/x" maps to the key "<prefix>/<home>/x". Objects get Options.Object.
func (s *Store) FS(home string) ftp.FS { return s.UserFS(User{Home: home}) }

// User is whom a FS serves.
type User struct {
	// Home is the chroot, a key prefix below the store's prefix.
	Home string
	// Name and Client fill {user} and {client_ip} in object metadata.
	Name   string
	Client netip.Addr
	// Object overrides Options.Object field by field (users[].object).
	Object ObjectOptions
}

// UserFS returns the view of the store for one logged-in user. The FS also
// implements ftp.Resumer, ftp.Hasher and ftp.ModTimeSetter.
func (s *Store) UserFS(u User) ftp.FS {
	return &fsys{
		s:      s,
		user:   u.Name,
		client: u.Client,
		root:   joinKey(s.prefix, strings.Trim(path.Clean("/"+u.Home), "/")),
		props:  s.object.merge(u.Object).resolve(u.Name, u.Client),
		own:    &ownObjects{},
	}
}

// Ping checks that the bucket can be listed under the prefix with the
// configured credentials (Check), for readiness probes.
func (s *Store) Ping(ctx context.Context) error {
	if p := s.Check(ctx); p != nil {
		return p
	}
	return nil
}

// joinKey joins key segments that carry no leading or trailing slash,
// skipping empty ones.
func joinKey(a, b string) string {
	switch {
	case a == "":
		return b
	case b == "":
		return a
	}
	return a + "/" + b
}

// partialDone tells Options.Partial of a partial kept or resumed.
func (s *Store) partialDone(event string) {
	if s.partialEvent != nil {
		s.partialEvent(event)
	}
}
