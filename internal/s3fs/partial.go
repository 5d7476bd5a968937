package s3fs

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// Partials: what an interrupted upload leaves for REST+STOR to continue.
//
// Representation. A partial is the upload's own multipart upload (still
// addressed to the final key, so completing it later makes the object
// appear at once) plus a marker object
//
//	<prefix>/.s3ftpd-partial/<hex SHA-256 of the final key>
//
// whose body is the tail: the bytes received after the last stored part,
// which were still in memory when the transfer broke (S3 cannot hold a
// part under 5 MiB anywhere but last, and a part cannot be read back, so
// they are stored as an object of their own). The marker's metadata names
// the multipart upload and how many parts (and bytes) precede the tail. An
// upload that never left its first part has no multipart upload: the
// marker's body is all of it.
//
// Why not one hidden staging object: the parts are already on S3, so
// keeping them costs nothing, while completing them into a staging object
// copies every byte on abort and again on resume; and a process killed
// mid-upload (kill -9, no Abort) leaves exactly this multipart upload, so
// it stays resumable — the janitor writes it a marker at the next start
// (see janitor.go). The marker name is a hash so that names of any length
// fit and a file "a" and a directory "a/" never clash (versitygw keeps keys
// as paths); listings hide the .s3ftpd-partial directory and FTP names
// cannot reach it.
//
// Resuming (resume.go): the stored parts stay parts 1..n; the tail becomes
// part n+1 by UploadPartCopy when it has at least 5 MiB, and is read back
// into memory as the start of part n+1 otherwise; the client sends only
// the bytes after the partial.
//
// Staleness. A partial is for the newest attempt at a name: the marker
// records the object that was at the name when the partial was made (its
// ETag, "-" for none, and its version: the random id every upload of
// s3ftpd writes into the object's metadata); once the name holds another
// object (a later STOR stored it) the partial is stale and discarded by the
// next write that finds it. The version matters when the later STOR sent
// the same bytes: the ETag (an MD5) is then the same. No request is spent
// on this when an upload commits. The janitor, which adopts an upload of a
// killed process long after the fact, compares times instead (a partial
// whose newest part is not older than the object is stale).
//
// Kinds. A partial of an interrupted APPE starts with the object it was
// appended to ("extends"); any other partial of a name that holds an
// object is an interrupted overwrite, whose bytes have nothing to do with
// the object's (see Resume for what that means for a resume).
const partialDir = ".s3ftpd-partial"

// Marker metadata (x-amz-meta-…).
const (
	metaUploadID   = MetaPrefix + "upload-id"    // multipart upload, "" for none
	metaParts      = MetaPrefix + "parts"        // parts before the tail
	metaPartsBytes = MetaPrefix + "parts-bytes"  // their bytes
	metaAlgo       = MetaPrefix + "checksum"     // CRC32 or CRC32C, of the upload and the tail
	metaActivity   = MetaPrefix + "activity"     // RFC 3339 time of the last stored byte, when not the marker's
	metaBase       = MetaPrefix + "base-etag"    // ETag of the object at the name when the partial was made; "-" none
	metaBaseVer    = MetaPrefix + "base-version" // that object's metaVersion; "-" none
	metaExtends    = MetaPrefix + "extends"      // "1": the partial's bytes start with that object (an APPE)
)

// partialKey is the marker of key's partial.
func (s *Store) partialKey(key string) string {
	sum := sha256.Sum256([]byte(key))
	return s.partialRoot + "/" + hex.EncodeToString(sum[:])
}

// partialState is a partial found on S3.
type partialState struct {
	marker     string // marker key
	etag       string // marker ETag (the tail read back must be this one)
	uploadID   string
	algo       crcAlgo
	full       bool
	parts      []partDone // the resumable parts, 1..n
	partsBytes int64
	tail       int64 // tail bytes that follow the parts (0 when stale or none)
	time       time.Time
	size       int64 // partsBytes + tail
	extends    bool  // the bytes start with the object at the name (an interrupted APPE)
}

// marker is what keepPartial and the janitor write.
type marker struct {
	uploadID   string
	parts      int
	partsBytes int64
	algo       crcAlgo
	activity   time.Time // zero: the marker's own time
	base       string    // ETag at the name ("-" none, "" unknown)
	baseVer    string    // version of that object ("-" none, "" unknown)
	extends    bool      // the bytes start with that object
}

// putMarker writes key's marker with body as the tail (nil: no tail).
func (s *Store) putMarker(ctx context.Context, key string, m marker, body *partBuf, sum string, p *objectProps) error {
	meta := map[string]string{
		metaUploadID:   m.uploadID,
		metaParts:      strconv.Itoa(m.parts),
		metaPartsBytes: strconv.FormatInt(m.partsBytes, 10),
		metaAlgo:       string(m.algo.name),
	}
	if !m.activity.IsZero() {
		meta[metaActivity] = m.activity.UTC().Format(time.RFC3339Nano)
	}
	if m.base != "" {
		meta[metaBase] = m.base
	}
	if m.baseVer != "" {
		meta[metaBaseVer] = m.baseVer
	}
	if m.extends {
		meta[metaExtends] = "1"
	}
	in := &s3.PutObjectInput{
		Bucket:   aws.String(s.bucket),
		Key:      aws.String(s.partialKey(key)),
		Metadata: meta,
		// Encrypted like the object; no ACL, storage class or tags: it is
		// internal and short-lived.
		ServerSideEncryption: p.sse,
		SSEKMSKeyId:          optString(p.kmsKeyID),
	}
	if body == nil || body.size == 0 {
		in.ContentLength = aws.Int64(0)
		in.Body = strings.NewReader("")
		m.algo.set(&in.ChecksumCRC32, &in.ChecksumCRC32C, crcToBase64(0))
	} else {
		in.ContentLength = aws.Int64(body.size)
		in.Body = body.reader()
		m.algo.set(&in.ChecksumCRC32, &in.ChecksumCRC32C, sum)
	}
	s.markers.add(aws.ToString(in.Key))
	_, err := s.client.PutObject(ctx, in, unsignedPayload)
	return err
}

// keepPartial turns an interrupted upload into a partial: the parts stored
// so far (the resumable prefix) stay in the multipart upload, the part in
// memory becomes the marker's tail. A tail only follows when every part
// handed to S3 was stored; otherwise the bytes after the prefix are gone
// and the client sends them again. If the marker cannot be written the
// multipart upload is kept anyway (the janitor adopts it).
func (u *upload) keepPartial(ctx context.Context) error {
	u.cancel()
	var prefix []partDone
	var prefixBytes int64
	tailOK := true
	if u.mp != nil {
		u.mp.waitSends(u.sendCancel)
		prefix, prefixBytes = resumablePrefix(u.mp.sorted())
		tailOK = int32(len(prefix)) == u.sent
	}
	var tail *partBuf
	if tailOK {
		tail = &u.cur
	}
	size := prefixBytes
	if tail != nil {
		size += tail.size
	}
	if size == 0 {
		return u.cleanup(ctx)
	}
	m := marker{parts: len(prefix), partsBytes: prefixBytes, algo: u.algo, extends: u.extends}
	if u.baseKnown {
		m.base, m.baseVer = u.baseE, u.baseVer
	} else {
		m.base, m.baseVer = u.s.versionAt(ctx, u.key)
	}
	if u.mp != nil {
		m.uploadID = u.mp.id
	}
	err := u.s.putMarker(ctx, u.key, m, tail, crcBase64(u.crc), u.props)
	if err != nil {
		u.s.log.Warn("could not keep the partial upload's tail", "key", u.key,
			"tail_bytes", u.cur.size, "multipart_kept", u.mp != nil, "err", err)
	} else {
		u.s.log.Info("interrupted upload kept as a resumable partial", "key", u.key, "bytes", size)
		u.s.partialDone("kept")
	}
	u.release()
	return err
}

// findPartial returns key's partial, or nil. obj is the object at key as
// the caller just looked at it (nil: none; see headObject). It waits for
// uploads of key that are closing in this process and checks the marker
// against its multipart upload and obj. A stale or broken partial is
// reported as none; with discard it is also deleted (write paths only: a
// SIZE must change nothing).
func (s *Store) findPartial(ctx context.Context, key string, obj *s3.HeadObjectOutput, discard bool) (*partialState, error) {
	if err := s.live.waitClosing(ctx, key); err != nil {
		return nil, err
	}
	head, err := s.headMarker(ctx, key)
	if err != nil || head == nil {
		return nil, err
	}
	return s.readPartial(ctx, key, head, obj, discard)
}

// headMarker is key's marker, nil when there is none: without a request
// when the marker index knows there is none (markers.go).
func (s *Store) headMarker(ctx context.Context, key string) (*s3.HeadObjectOutput, error) {
	mk := s.partialKey(key)
	if !s.markers.mayExist(mk) {
		return nil, nil
	}
	head, err := s.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(mk)})
	if isNotFound(err) {
		return nil, nil
	}
	return head, err
}

// readPartial checks the marker head of key against its multipart upload
// and obj (see findPartial).
func (s *Store) readPartial(ctx context.Context, key string, head, obj *s3.HeadObjectOutput, discard bool) (*partialState, error) {
	mk := s.partialKey(key)
	md := head.Metadata
	p := &partialState{
		marker: mk, etag: aws.ToString(head.ETag), uploadID: md[metaUploadID],
		tail: aws.ToInt64(head.ContentLength), time: aws.ToTime(head.LastModified),
		extends: md[metaExtends] == "1",
	}
	p.algo, _ = algoByName(types.ChecksumAlgorithm(md[metaAlgo]))
	if p.algo.table == nil {
		p.algo = algoCRC32()
	}
	if t, err := time.Parse(time.RFC3339Nano, md[metaActivity]); err == nil {
		p.time = t
	}
	if p.uploadID != "" {
		parts, algo, full, newest, err := s.listParts(ctx, key, p.uploadID)
		if isNotFound(err) {
			if discard {
				s.log.Info("partial upload gone, dropping its marker", "key", key, "upload", p.uploadID)
				s.deleteKey(ctx, mk)
			}
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		p.algo, p.full = algo, full
		p.parts, p.partsBytes = resumablePrefix(parts)
		n, _ := strconv.Atoi(md[metaParts])
		nb, _ := strconv.ParseInt(md[metaPartsBytes], 10, 64)
		if len(p.parts) != n || p.partsBytes != nb {
			// Resumed and interrupted without a new marker (a killed
			// process): the parts are the partial, the tail is in them
			// or lost.
			p.tail = 0
			if newest.After(p.time) {
				p.time = newest
			}
		}
	}
	p.size = p.partsBytes + p.tail
	if p.size == 0 {
		return nil, nil
	}
	if isStale(md, p.time, obj) {
		if discard {
			s.log.Info("stale partial upload (the name was stored since), discarding", "key", key)
			s.discardPartial(ctx, key, p)
		}
		return nil, nil
	}
	return p, nil
}

// lookup returns the object at key (nil: none) and key's partial (nil:
// none), once the uploads of key closing in this process have ended (one
// may store the object or a partial). discard as for findPartial. The
// object's and the marker's HEADs go out together (one round trip), and
// the marker's only when one may exist.
func (s *Store) lookup(ctx context.Context, key string, discard bool) (*s3.HeadObjectOutput, *partialState, error) {
	if err := s.live.waitClosing(ctx, key); err != nil {
		return nil, nil, err
	}
	var mhead *s3.HeadObjectOutput
	var merr error
	done := make(chan struct{})
	go func() {
		defer close(done)
		mhead, merr = s.headMarker(ctx, key)
	}()
	obj, err := s.headObject(ctx, key)
	<-done
	if err = cmp.Or(err, merr); err != nil || mhead == nil {
		return obj, nil, err
	}
	p, err := s.readPartial(ctx, key, mhead, obj, discard)
	return obj, p, err
}

// isStale reports a partial (marker metadata md, last activity t) that an
// object stored since at its name supersedes; obj is that object, nil for
// none.
func isStale(md map[string]string, t time.Time, obj *s3.HeadObjectOutput) bool {
	base, ok := md[metaBase]
	if !ok { // adopted by the janitor without knowing the object: by time
		return obj != nil && !aws.ToTime(obj.LastModified).Before(t.Truncate(time.Second))
	}
	etag, ver := "-", "-"
	if obj != nil {
		etag, ver = aws.ToString(obj.ETag), objectVersion(obj.Metadata)
	}
	if etag != base {
		return true
	}
	if v, ok := md[metaBaseVer]; ok {
		return v != ver
	}
	// No version recorded (a marker of the janitor or of an older s3ftpd):
	// a re-upload of the same bytes is told by its time, as the janitor does.
	return obj != nil && !aws.ToTime(obj.LastModified).Before(t.Truncate(time.Second))
}

// headObject is the object at key with its checksums, nil when there is
// none.
func (s *Store) headObject(ctx context.Context, key string) (*s3.HeadObjectOutput, error) {
	h, err := s.client.HeadObject(ctx, &s3.HeadObjectInput{
		Bucket: aws.String(s.bucket), Key: aws.String(key), ChecksumMode: types.ChecksumModeEnabled,
	})
	if isNotFound(err) {
		return nil, nil
	}
	return h, err
}

// versionAt is the ETag and version of the object at key, "-" for both
// when there is none and "" when S3 could not tell.
func (s *Store) versionAt(ctx context.Context, key string) (etag, version string) {
	h, err := s.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(key)})
	switch {
	case err == nil:
		return aws.ToString(h.ETag), objectVersion(h.Metadata)
	case isNotFound(err):
		return "-", "-"
	}
	return "", ""
}

// discardPartial deletes a partial: its marker and, unless an upload of
// this process still uses it, its multipart upload.
func (s *Store) discardPartial(ctx context.Context, key string, p *partialState) {
	if p.uploadID != "" && !s.live.hasID(p.uploadID) {
		if err := s.abortMultipart(ctx, key, p.uploadID); err != nil {
			s.log.Warn("abort stale partial upload", "key", key, "err", err)
		}
	}
	s.deleteKey(ctx, p.marker)
}

// forgetPartial deletes key's marker after the upload that continued the
// partial was stored (its parts went into the object).
func (s *Store) forgetPartial(ctx context.Context, key string) {
	ctx, cancel := context.WithTimeout(ctx, abortTimeout)
	defer cancel()
	s.deleteKey(ctx, s.partialKey(key))
}

// deleteKey deletes one object, logging a failure (used for markers: a
// marker left behind is recognised as stale or expires).
func (s *Store) deleteKey(ctx context.Context, key string) {
	_, err := s.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(key)})
	if err != nil && !isNotFound(err) {
		s.log.Warn("delete", "key", key, "err", err)
		return
	}
	if s.isMarker(key) {
		s.markers.remove(key)
	}
}
