package s3fs

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"hash"
	"hash/crc32"
	"io"
	"io/fs"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
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
	stateFailed  // a write or the commit failed; resources are released
	stateAborted // Abort was called; resources are released
)

// upload streams one STOR into S3 (see ftp.Upload).
//
// Bytes land in 64 KiB blocks of the current part (partBuf). A small upload
// never leaves its first part and is stored with one PutObject at Commit.
// When the first part is full and more bytes arrive, a multipart upload
// starts: each full part goes to a sender goroutine (up to Concurrency at
// once) while the next part fills. Part sizes follow partSizeOf; buffer
// bytes are accounted in the Store's budget (see budget.go for why this
// cannot deadlock).
//
// Write, ReadFrom and Commit are meant for one goroutine; Abort may be
// called from another one and interrupts a Write blocked on the budget.
type upload struct {
	s           *Store
	name, key   string
	contentType string

	// ctx bounds waits for budget and send slots and the start of the
	// multipart upload; it derives from Create's ctx and is cancelled by
	// Abort, on failure and when Commit's ctx ends.
	ctx    context.Context
	cancel context.CancelFunc
	// sendCtx bounds part sends. It ignores the cancellation of Create's
	// ctx (see sendGrace) and is cancelled by cleanup.
	sendCtx    context.Context
	sendCancel context.CancelFunc

	// dirCheck delivers whether key is a directory (checked in the
	// background while the data arrives; Commit refuses to hide a
	// directory behind a file of the same name).
	dirCheck chan error

	mu      sync.Mutex
	state   uploadState
	err     error // why the upload failed (stateFailed)
	cleaned bool  // buffers released and the multipart upload aborted

	cur      partBuf     // part being filled: number sent+1
	crc      hash.Hash32 // CRC32 of cur
	reserved int64       // budget held for cur
	sent     int32       // parts handed to senders
	total    int64       // bytes received

	mp *multipart // nil until the first part is sent
}

var (
	_ ftp.Upload    = (*upload)(nil)
	_ io.ReaderFrom = (*upload)(nil)
)

func newUpload(ctx context.Context, s *Store, name, key, contentType string) *upload {
	uctx, cancel := context.WithCancel(ctx)
	sctx, scancel := context.WithCancel(context.WithoutCancel(ctx))
	return &upload{
		s: s, name: name, key: key, contentType: contentType,
		ctx: uctx, cancel: cancel,
		sendCtx: sctx, sendCancel: scancel,
		dirCheck: make(chan error, 1),
		crc:      crc32.NewIEEE(),
	}
}

// Write buffers p; it blocks while the budget is exhausted.
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
		if u.sent+1 >= MaxParts {
			return nil, u.fail(fmt.Errorf("%w: upload needs more than %d parts", ftp.ErrTooLarge, MaxParts))
		}
		if err := u.sendCurrent(); err != nil {
			return nil, u.fail(err)
		}
	}
	if err := u.reserveBlock(); err != nil {
		return nil, u.fail(err)
	}
	u.cur.addBlock(u.s.blocks.get())
	return u.cur.room(), nil
}

// reserveBlock makes sure the budget covers one more block of cur. The
// first block of an upload is taken alone (probation); beyond it the whole
// part is reserved at once, while holding nothing (see budget.go).
func (u *upload) reserveBlock() error {
	need := int64(len(u.cur.blocks)+1) * blockSize
	if need <= u.reserved {
		return nil
	}
	if u.sent == 0 && len(u.cur.blocks) == 0 {
		if err := u.s.budget.acquire(u.ctx, blockSize); err != nil {
			return err
		}
		u.reserved = blockSize
		return nil
	}
	u.s.budget.release(u.reserved)
	u.reserved = 0
	target := u.s.partSizeOf(u.sent + 1)
	if err := u.s.budget.acquire(u.ctx, target); err != nil {
		return err
	}
	u.reserved = target
	return nil
}

// wrote accounts for b, just written into the current part.
func (u *upload) wrote(b []byte) {
	u.cur.wrote(len(b))
	u.crc.Write(b)
	u.total += int64(len(b))
}

// takeCurrent hands the current part, its reservation and its checksum to
// the caller and starts an empty part.
func (u *upload) takeCurrent() (partBuf, int64, string) {
	p, r, sum := u.cur, u.reserved, crcBase64(u.crc)
	u.cur, u.reserved = partBuf{}, 0
	u.crc.Reset()
	return p, r, sum
}

// dropCurrent frees the current part's blocks and budget.
func (u *upload) dropCurrent() {
	u.cur.free(u.s.blocks)
	u.s.budget.release(u.reserved)
	u.reserved = 0
	u.crc.Reset()
}

// crcBase64 is the x-amz-checksum-crc32 form of h: base64 of the big-endian
// CRC.
func crcBase64(h hash.Hash32) string {
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], h.Sum32())
	return base64.StdEncoding.EncodeToString(b[:])
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

	if err := u.checkNotDir(ctx); err != nil {
		return u.fail(err)
	}
	var err error
	if u.mp == nil {
		err = u.putObject(ctx)
	} else {
		err = u.completeMultipart(ctx)
	}
	if err != nil {
		return u.fail(err)
	}
	u.state = stateCommitted
	u.cleaned = true
	u.dropCurrent()
	u.cancel()
	u.sendCancel()
	return nil
}

// putObject stores an upload that fits in its first part.
func (u *upload) putObject(ctx context.Context) error {
	part, reserved, sum := u.takeCurrent()
	defer func() {
		part.free(u.s.blocks)
		u.s.budget.release(reserved)
	}()
	in := &s3.PutObjectInput{
		Bucket:        aws.String(u.s.bucket),
		Key:           aws.String(u.key),
		Body:          part.reader(),
		ContentLength: aws.Int64(part.size),
		ChecksumCRC32: aws.String(sum),
	}
	if u.contentType != "" {
		in.ContentType = aws.String(u.contentType)
	}
	_, err := u.s.client.PutObject(ctx, in, unsignedPayload)
	return err
}

// checkNotDir waits for the background directory check started by Create.
func (u *upload) checkNotDir(ctx context.Context) error {
	select {
	case err := <-u.dirCheck:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Abort discards the upload: a blocked Write returns, parts being sent are
// let finish (for at most sendGrace), the multipart upload is aborted until
// no part remains, and buffers and budget are released. The previous
// object, if any, is untouched. Abort after Commit does nothing; Abort twice
// is safe. ctx may already be cancelled (an ABOR): the S3 requests run on a
// detached context bounded by abortTimeout.
func (u *upload) Abort(ctx context.Context) error {
	u.cancel() // unblock a Write waiting for budget in another goroutine
	u.mu.Lock()
	defer u.mu.Unlock()
	switch u.state {
	case stateCommitted, stateAborted:
		return nil
	}
	u.state = stateAborted
	return u.cleanup(ctx)
}

// fail marks the upload failed, releases everything and returns err mapped
// for the ftp layer.
func (u *upload) fail(err error) error {
	err = mapErr("upload", u.name, err)
	u.state, u.err = stateFailed, err
	if cerr := u.cleanup(u.ctx); cerr != nil {
		u.s.log.Warn("abort failed upload", "key", u.key, "err", cerr)
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

// cleanup stops the senders, frees buffers and budget and aborts the
// multipart upload. It runs once.
func (u *upload) cleanup(ctx context.Context) error {
	if u.cleaned {
		return nil
	}
	u.cleaned = true
	u.cancel()
	defer u.sendCancel()
	if u.mp != nil {
		u.mp.waitSends(u.sendCancel) // senders free their own parts and budget
	}
	u.dropCurrent()
	if u.mp == nil {
		return nil
	}
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), abortTimeout)
	defer cancel()
	return mapErr("abort upload", u.name, u.s.abortMultipart(actx, u.key, u.mp.id))
}
