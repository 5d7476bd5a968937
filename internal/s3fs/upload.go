package s3fs

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/s3ftpd/s3ftpd/internal/ftp"
)

// abortTimeout bounds the clean-up requests of an aborted upload. They run
// on a context detached from the caller's, which is usually the cancelled
// transfer context: S3 must still be told, or the parts stay (and are
// billed) forever.
const abortTimeout = 30 * time.Second

// sendGrace is how long an aborted upload lets parts already being sent
// finish before cutting them off. A part cut off after its body was sent
// can still be stored by the server after the abort (an orphan part that
// no abort removes), so in-flight parts normally run to completion first.
const sendGrace = 10 * time.Second

type uploadState int

const (
	stateOpen uploadState = iota
	stateCommitted
	stateFailed  // a write or the commit failed; Abort decides what stays
	stateAborted // Abort was called; resources are released
)

// upload streams one STOR into S3 (see ftp.Upload).
//
// Bytes land in 64 KiB blocks of the current part (partBuf). A small upload
// never leaves its first part and is stored with one PutObject at Commit.
// When the first part is full and more bytes arrive, a multipart upload
// starts: each full part goes to a sender goroutine (up to Concurrency at
// once) while the next part fills. Part sizes follow partSizeOf; buffer
// bytes are accounted in the Store's budget as they arrive (see budget.go
// for the caps and for why waits end).
//
// A resumed upload (resume.go) starts with parts already stored: those of
// the partial it continues, or server-side copies of the object it appends
// to; base counts their bytes.
//
// What Abort leaves (see Abort): nothing new at the name, and the bytes
// received as a resumable partial (partial.go) when Options.ResumeWindow is
// set; with Options.NonAtomic it first tries to store them as the object.
//
// Write, ReadFrom and Commit are meant for one goroutine; Abort may be
// called from another one and interrupts a Write blocked on the budget.
type upload struct {
	s           *Store
	name, key   string
	contentType string
	props       *objectProps
	algo        crcAlgo

	// ctx bounds waits for budget and send slots and the start of the
	// multipart upload; it derives from Create's ctx and is cancelled by
	// Abort, on failure and when Commit's ctx ends.
	ctx    context.Context
	cancel context.CancelFunc
	// sendCtx bounds part sends. It ignores the cancellation of Create's
	// ctx (see sendGrace) and is cancelled when the upload ends.
	sendCtx    context.Context
	sendCancel context.CancelFunc

	// dirCheck delivers whether key is a directory (checked in the
	// background while the data arrives; Commit refuses to hide a
	// directory behind a file of the same name).
	dirCheck    chan error
	dirChecking bool // startDirCheck ran

	// closing is set when the upload starts to end badly (a failure or
	// Abort); done is closed when it has ended. See liveUploads.
	closing atomic.Bool
	done    chan struct{}

	mu      sync.Mutex
	state   uploadState
	err     error // why the upload failed (stateFailed)
	cleaned bool  // buffers released, the multipart upload dealt with

	cur      partBuf     // part being filled: number sent+1
	crc      hash.Hash32 // checksum of cur (algo)
	reserved int64       // budget held for cur
	// hold is this upload's account in the buffer budget (cur and the
	// parts being sent).
	hold  *ftp.BudgetHolder
	sent  int32 // parts stored or handed to senders
	total int64 // bytes of the object so far, base included
	// sha is the SHA-256 of every byte of the object while all of them
	// pass through Write and it still fits one PutObject; nil otherwise.
	sha hash.Hash

	mp     *multipart // nil until the first part is sent (or resumed)
	ownMP  bool       // this upload created mp (a resumed partial's is not)
	mpDone bool       // mp was completed
	// committing: mp's record says it is being completed (committing.go);
	// a commit that fails rewrites it as a plain record.
	committing bool

	base    int64  // bytes already stored when the upload began
	appendE string // ETag of the object an append copies (Commit without new bytes changes nothing)
	partial bool   // continues the partial of key: delete its marker at Commit
	marked  bool   // wrote key's marker at the start (an APPE, markAppend)

	version string // metaVersion of the object this upload stores
	// What a single PutObject stored (ETag, metadata); "" and nil otherwise.
	etag string
	meta map[string]string
	cond condition // what the object at key must be at Commit (a resumed upload's base)
	// The object at key that a resumed upload builds on (known: Resume
	// looked): a partial kept from it records it (partial.go, Staleness).
	baseKnown      bool
	baseE, baseVer string
	extends        bool // the upload's first bytes are that object (APPE)
}

var (
	_ ftp.Upload    = (*upload)(nil)
	_ io.ReaderFrom = (*upload)(nil)
)

// newUpload registers a new upload of name (key) for f's user and starts the
// directory check.
func (f *fsys) newUpload(ctx context.Context, name, key string) *upload {
	uctx, cancel := context.WithCancel(ctx)
	sctx, scancel := context.WithCancel(context.WithoutCancel(ctx))
	u := &upload{
		s: f.s, name: name, key: key, contentType: contentTypeFor(name), props: &f.props,
		algo: algoCRC32(),
		ctx:  uctx, cancel: cancel,
		sendCtx: sctx, sendCancel: scancel,
		dirCheck: make(chan error, 1),
		done:     make(chan struct{}),
		sha:      sha256.New(),
		version:  randomID(),
		hold:     f.s.budget.Holder(f.client, f.user, f.s.sessionCap),
	}
	u.crc = u.algo.new()
	f.s.live.add(u)
	return u
}

// startDirCheck checks in the background, while the parts arrive, that the
// name is not a directory (Commit waits for the answer). Only a multipart
// upload pays for it: for a small file the extra ListObjectsV2 doubled
// the requests per file and halved small-file throughput. A small file is
// still refused over a directory on stores whose keys are paths (the
// embedded store answers ExistingObjectIsDirectory: fs.ErrExist); on AWS S3
// it would sit beside the prefix of the same name.
func (u *upload) startDirCheck() {
	if u.dirChecking {
		return
	}
	u.dirChecking = true
	go func() {
		fi, err := u.s.statDir(u.ctx, u.key, u.name)
		switch {
		case err != nil:
			// Not fatal: the upload itself reports a real outage.
			u.s.log.Debug("directory check before upload failed", "key", u.key, "err", err)
			err = nil
		case fi != nil:
			err = fmt.Errorf("s3fs: create %s: is a directory: %w", u.name, fs.ErrExist)
		}
		u.dirCheck <- err
	}()
}

// Write buffers p; it blocks while the budget is exhausted (for at most
// the budget's deadline).
func (u *upload) Write(p []byte) (int, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	n := 0
	for n < len(p) {
		room, err := u.room()
		if err != nil {
			return n, err
		}
		c := copy(room, p[n:])
		u.wrote(room[:c])
		n += c
	}
	return n, nil
}

// ReadFrom reads r to EOF straight into the part blocks, so io.Copy(upload,
// conn) copies every byte once.
func (u *upload) ReadFrom(r io.Reader) (int64, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.readFrom(r)
}

func (u *upload) readFrom(r io.Reader) (int64, error) {
	var total int64
	for {
		room, err := u.room()
		if err != nil {
			return total, err
		}
		n, rerr := r.Read(room)
		if n > 0 {
			u.wrote(room[:n])
			total += int64(n)
		}
		if rerr == io.EOF {
			return total, nil
		}
		if rerr != nil {
			return total, rerr
		}
	}
}

// room returns free space in the current part, sending a full part and
// taking budget for a new block as needed.
func (u *upload) room() ([]byte, error) {
	if u.state != stateOpen {
		return nil, u.stateErr()
	}
	if r := u.cur.room(); len(r) > 0 {
		return r, nil
	}
	if u.total >= u.s.maxObject {
		return nil, u.fail(fmt.Errorf("%w: upload larger than %d bytes", ftp.ErrTooLarge, u.s.maxObject))
	}
	if u.cur.size >= u.s.partSizeOf(u.sent+1) {
		if u.sent+1 >= u.s.maxParts {
			return nil, u.fail(fmt.Errorf("%w: upload needs more than %d parts", ftp.ErrTooLarge, u.s.maxParts))
		}
		if err := u.sendCurrent(u.ctx); err != nil {
			return nil, u.fail(err)
		}
	}
	if err := u.reserveBlock(); err != nil {
		return nil, u.fail(err)
	}
	u.cur.addBlock(u.s.blocks.get())
	return u.cur.room(), nil
}

// reserveBlock makes sure the budget covers one more block of cur
// (budget.go). Reservations grow ahead of the bytes by at most what cur
// already holds, up to reserveStep: 64 KiB, 128 KiB, 256 KiB … 1 MiB at a
// time, so an upload that sent 64 KiB + 1 byte holds 128 KiB and a fast
// one asks the budget once per MiB. If that is not free at once, a part
// being filled that could already be sent (MinPartSize) is sent now,
// which gives its memory back when S3 has stored it, and one block is
// waited for (at most the budget's deadline: ftp.ErrBufferBusy, 452).
func (u *upload) reserveBlock() error {
	if int64(len(u.cur.blocks)+1)*blockSize <= u.reserved {
		return nil
	}
	if err := u.ctx.Err(); err != nil {
		return err // the transfer ended (ABOR, stall): take nothing more
	}
	target := u.s.partSizeOf(u.sent + 1)
	u.hold.Claim(target)
	step := max(min(u.reserved, reserveStep, target-u.reserved), blockSize)
	if u.hold.TryAcquire(step) {
		u.reserved += step
		return nil
	}
	if step > blockSize && u.hold.TryAcquire(blockSize) {
		u.reserved += blockSize
		return nil
	}
	if u.cur.size >= MinPartSize && u.sent+1 < u.s.maxParts {
		if err := u.sendCurrent(u.ctx); err != nil {
			return err
		}
		u.hold.Claim(u.s.partSizeOf(u.sent + 1))
	}
	if err := u.hold.Acquire(u.ctx, blockSize); err != nil {
		if errors.Is(err, ftp.ErrBufferBusy) {
			// The session logs the refusal (452) at WARN.
			u.s.log.Debug("no upload buffer memory free in time", "key", u.key,
				"user", u.hold.User(), "client", u.hold.Client(), "err", err)
		}
		return err
	}
	u.reserved += blockSize
	return nil
}

// reserveStep is the most an upload's reservation grows ahead of its
// bytes at once.
const reserveStep = 1 << 20

// wrote accounts for b, just written into the current part.
func (u *upload) wrote(b []byte) {
	u.cur.wrote(len(b))
	u.crc.Write(b)
	if u.sha != nil {
		u.sha.Write(b)
	}
	u.total += int64(len(b))
}

// takeCurrent hands the current part, its reservation and its checksum to
// the caller and starts an empty part.
func (u *upload) takeCurrent() (partBuf, int64, string) {
	p, sum := u.cur, crcBase64(u.crc)
	r := u.hold.Detach() // == u.reserved
	u.cur, u.reserved = partBuf{}, 0
	u.crc.Reset()
	return p, r, sum
}

// dropCurrent frees the current part's blocks and budget.
func (u *upload) dropCurrent() {
	u.cur.free(u.s.blocks)
	u.hold.Release(u.reserved)
	u.reserved = 0
	u.crc.Reset()
}

// Commit stores the upload under its name.
func (u *upload) Commit(ctx context.Context) error {
	u.mu.Lock()
	defer u.mu.Unlock()
	switch u.state {
	case stateCommitted:
		return nil
	case stateOpen:
	default:
		return u.stateErr()
	}
	// A cancelled Commit also ends the waits for budget and send slots.
	stop := context.AfterFunc(ctx, u.cancel)
	defer stop()
	if err := u.store(ctx); err != nil {
		if u.landed(ctx, err) {
			u.mpDone = u.mp != nil
			u.finish(stateCommitted)
			return nil
		}
		u.uncommit()
		err = u.whyRefused(ctx, err)
		if errors.Is(err, ftp.ErrChanged) {
			u.s.log.Warn("resumed upload not stored: the object it builds on was replaced meanwhile",
				"key", u.key, "base_etag", u.baseE, "err", err)
		}
		return u.fail(err)
	}
	u.finish(stateCommitted)
	return nil
}

// store makes the object visible: one PutObject, or the completion of the
// multipart upload. An append that received nothing changes nothing.
func (u *upload) store(ctx context.Context) error {
	if err := u.checkNotDir(ctx); err != nil {
		return err
	}
	switch {
	case u.appendE != "" && u.total == u.base:
		return nil
	case u.mp == nil:
		return u.putObject(ctx)
	}
	if err := u.completeMultipart(ctx); err != nil {
		return err
	}
	u.mpDone = true
	return nil
}

// landed reports whether the commit that failed with err took place after
// all: its answer was lost (a reset after the store acted) and the SDK's
// retry then found the state the first attempt had made — a failed
// If-Match (the object is already ours: ErrChanged, 450 "nothing was
// changed", and a client that appends again would store its bytes twice)
// or a completed multipart upload gone. The object at the key carries this
// upload's random version (metaVersion) only if this upload stored it. A
// resumed partial's upload was created by an earlier attempt with another
// version, so there this finds nothing (the error stands).
func (u *upload) landed(ctx context.Context, err error) bool {
	if ctx.Err() != nil || (!errors.Is(err, ftp.ErrChanged) && !isNotFound(err) && !(u.cond.set() && noAnswer(err))) {
		return false
	}
	h, herr := u.s.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(u.s.bucket), Key: aws.String(u.key)})
	if herr != nil || objectVersion(h.Metadata) != u.version {
		return false
	}
	u.s.log.Info("upload stored although the store's answer was lost", "key", u.key, "err", err)
	return true
}

// noAnswer reports a request that got no HTTP answer (a reset, a closed
// connection): what the store did is unknown.
func noAnswer(err error) bool {
	var re *awshttp.ResponseError
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	return !errors.As(err, &re) || re.HTTPStatusCode() == 0 // the SDK wraps a send failure as status 0

}

// whyRefused settles a conditional commit that got no answer: a store may
// refuse a failed precondition by closing the connection while the body is
// still being sent (versitygw does, under load), so the client never reads
// the 412. If the object now fails the condition, that was the refusal
// (ErrChanged, 450), not a store error.
func (u *upload) whyRefused(ctx context.Context, err error) error {
	if !u.cond.set() || !noAnswer(err) || ctx.Err() != nil {
		return err
	}
	h, herr := u.s.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(u.s.bucket), Key: aws.String(u.key)})
	switch {
	case herr != nil && isNotFound(herr) && u.cond.ifMatch != "":
	case herr != nil:
		return err
	case u.cond.absent:
	case aws.ToString(h.ETag) != u.cond.ifMatch:
	default:
		return err
	}
	return fmt.Errorf("%w: %w", ftp.ErrChanged, err)
}

// putObject stores an upload that fits in its first part. The part stays in
// cur (a failed store can still become a partial).
func (u *upload) putObject(ctx context.Context) error {
	in := &s3.PutObjectInput{
		Bucket:        aws.String(u.s.bucket),
		Key:           aws.String(u.key),
		Body:          u.cur.reader(),
		ContentLength: aws.Int64(u.cur.size),
	}
	u.algo.set(&in.ChecksumCRC32, &in.ChecksumCRC32C, crcBase64(u.crc))
	extra := map[string]string{metaVersion: u.version}
	if u.sha != nil {
		extra[metaSHA256] = hex.EncodeToString(u.sha.Sum(nil))
	}
	u.props.applyPut(in, u.contentType, extra)
	if u.cond.set() && u.s.conditions(ctx).put {
		in.IfMatch, in.IfNoneMatch = u.cond.apply()
	}
	out, err := u.s.client.PutObject(ctx, in, unsignedPayload)
	if err == nil {
		u.etag, u.meta = aws.ToString(out.ETag), in.Metadata // for MFMT (own.go)
	}
	return u.cond.changed(err)
}

// randomID is 16 random hex digits.
func randomID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// checkNotDir waits for the background directory check, if one runs.
func (u *upload) checkNotDir(ctx context.Context) error {
	if !u.dirChecking {
		return nil
	}
	select {
	case err := <-u.dirCheck:
		u.dirCheck <- err // for a second Commit attempt (Abort with NonAtomic)
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Abort ends the upload without making it visible at its name: the
// previous object, if any, is untouched. A blocked Write returns and parts
// being sent are let finish (for at most sendGrace). Then:
//
//   - NonAtomic (vsftpd): what arrived is stored as the object, if it can
//     be; otherwise, as below.
//   - ResumeWindow set: the bytes received are kept as a resumable partial
//     (partial.go), including the part still in memory, so that REST+STOR
//     continues exactly where the data stopped. A permanent failure (a
//     directory of that name, over-size) keeps nothing.
//   - Otherwise the multipart upload is aborted until no part remains.
//
// Abort after Commit does nothing; Abort twice is safe. ctx may already be
// cancelled (an ABOR): the S3 requests run on a detached context bounded
// by abortTimeout.
func (u *upload) Abort(ctx context.Context) error {
	u.closing.Store(true)
	u.cancel() // unblock a Write waiting for budget in another goroutine
	u.mu.Lock()
	defer u.mu.Unlock()
	switch u.state {
	case stateCommitted, stateAborted:
		return nil
	}
	keep := !u.cleaned && !(u.state == stateFailed && isPermanent(u.err))
	u.state = stateAborted
	if u.cleaned {
		return nil
	}
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), abortTimeout)
	defer cancel()
	if keep && u.s.nonAtomic {
		err := u.store(actx)
		if err == nil {
			u.finish(stateAborted)
			return nil
		}
		u.uncommit()
		u.s.log.Warn("could not store the interrupted upload", "key", u.key, "err", err)
	}
	if keep && u.s.resumeWindow > 0 {
		return mapErr("keep partial", u.name, u.keepPartial(actx))
	}
	return u.cleanup(actx)
}

// uncommit rewrites the record of an upload whose completion failed as a
// plain one (committing.go): Abort, not a successor, decides what stays.
func (u *upload) uncommit() {
	if u.committing {
		u.committing = false
		u.s.recordUpload(u.key, u.mp.id)
	}
}

// isPermanent reports an upload failure that resuming cannot fix.
func isPermanent(err error) bool {
	switch classify(err) {
	case fs.ErrExist, fs.ErrInvalid, fs.ErrPermission, ftp.ErrTooLarge,
		ftp.ErrStorageRefused, ftp.ErrNameNotAllowed,
		// The object the upload builds on was replaced: its bytes
		// belong to no file any more.
		ftp.ErrChanged:
		return true
	}
	return false
}

// errUploadGone: S3 no longer knows the multipart upload (another node's
// janitor or a bucket lifecycle rule aborted it). Transient for the client.
var errUploadGone = errors.New("multipart upload no longer exists")

// fail marks the upload failed and returns err mapped for the ftp layer.
// Buffers stay for Abort, which may keep them as a partial; a permanent
// failure, or one with no partials to keep, releases everything now.
func (u *upload) fail(err error) error {
	if classify(err) == fs.ErrNotExist && u.mp != nil {
		// Keep the SDK text for the log, not its error code: a vanished
		// upload is not a missing file.
		err = fmt.Errorf("%w: %v", errUploadGone, err)
	}
	err = mapErr("upload", u.name, err)
	u.state, u.err = stateFailed, err
	u.closing.Store(true)
	u.cancel()
	if isPermanent(err) || (u.s.resumeWindow == 0 && !u.s.nonAtomic) {
		if cerr := u.cleanup(u.sendCtx); cerr != nil {
			u.s.log.Warn("abort failed upload", "key", u.key, "err", cerr)
		}
	}
	return err
}

func (u *upload) stateErr() error {
	switch u.state {
	case stateFailed:
		return u.err
	case stateAborted:
		return fmt.Errorf("s3fs: upload %s aborted: %w", u.name, fs.ErrClosed)
	}
	return fmt.Errorf("s3fs: upload %s: already committed", u.name)
}

// cleanup discards the upload: stops the senders, frees buffers and budget
// and aborts the multipart upload if this upload created it. It runs once.
func (u *upload) cleanup(ctx context.Context) error {
	if u.cleaned {
		return nil
	}
	u.cancel()
	if u.mp != nil {
		u.mp.waitSends(u.sendCancel) // senders free their own parts and budget
	}
	var err error
	if u.mp != nil && u.ownMP && !u.mpDone {
		actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), abortTimeout)
		defer cancel()
		err = mapErr("abort upload", u.name, u.s.abortMultipart(actx, u.key, u.mp.id))
	}
	if u.marked {
		u.s.forgetPartial(ctx, u.key)
	}
	u.release()
	return err
}

// finish ends a stored upload: releases everything, aborts a multipart
// upload that was not completed (an append that received nothing) and
// forgets the partial it continued. A partial that a fresh upload of the
// same name supersedes is not looked for here (that would cost a request
// per upload): the object's new version makes it stale (partial.go).
func (u *upload) finish(state uploadState) {
	u.state = state
	if u.mp != nil && !u.mpDone && u.ownMP {
		actx, cancel := context.WithTimeout(u.sendCtx, abortTimeout)
		if err := u.s.abortMultipart(actx, u.key, u.mp.id); err != nil {
			u.s.log.Warn("abort unused multipart upload", "key", u.key, "err", err)
		}
		cancel()
	}
	if u.partial || u.marked {
		u.s.forgetPartial(u.sendCtx, u.key)
	}
	u.release()
}

// release frees buffers and budget, ends the contexts and unregisters the
// upload. The multipart upload, if any, is left as it is.
func (u *upload) release() {
	if u.cleaned {
		return
	}
	u.cleaned = true
	u.cancel()
	u.dropCurrent()
	u.sendCancel()
	id := ""
	if u.mp != nil {
		id = u.mp.id
	}
	u.s.live.remove(u, id)
	close(u.done)
}
