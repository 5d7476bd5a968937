package s3fs

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/s3ftpd/s3ftpd/internal/ftp"
)

// Committing uploads. When the client's end of file is confirmed and the
// last part is stored, the upload's record (intent.go) is rewritten to say
// "committing", with what a completion needs, before
// CompleteMultipartUpload is sent. A process killed between the two has
// told nobody (the client got no 226), but it knew the file was whole: the
// next process (the janitor) or a surviving node (Adopt) completes the
// upload as the dead one would have, instead of keeping it as a partial
// that holds the whole file, which SIZE would report in full so that
// curl -C - and lftp put -c send nothing and the name never gets its file
// (README "The trap"). What stays a trap is only what the server never
// saw the end of (an ABOR after the last byte, a vanished client).
//
// The state is in the record's metadata; its body stays the key, so a
// node of an older version reads it as before (and makes a partial). The
// cost is one small PUT per multipart commit, before the completion;
// uploads of one part pay nothing.
const (
	metaState    = MetaPrefix + "state"          // "committing"
	metaCParts   = MetaPrefix + "commit-parts"   // parts 1..n the completion lists
	metaCBytes   = MetaPrefix + "commit-bytes"   // their bytes
	metaCSum     = MetaPrefix + "commit-crc"     // full-object CRC of the parts (base64), "" unknown
	metaCCond    = MetaPrefix + "commit-if"      // "*" (If-None-Match), an ETag (If-Match), "" none
	metaCVersion = MetaPrefix + "commit-version" // metaVersion the completed object carries
)

const stateCommitting = "committing"

// commitIntent is what a committing record says.
type commitIntent struct {
	parts   int
	bytes   int64
	sum     string
	cond    condition
	version string
}

// intent is an upload record as read back.
type intent struct {
	key     string
	written time.Time     // the record's Last-Modified (S3's clock)
	commit  *commitIntent // nil: the upload was not committing
}

func (c commitIntent) metadata() map[string]string {
	cond := c.cond.ifMatch
	if c.cond.absent {
		cond = "*"
	}
	return map[string]string{
		metaState:    stateCommitting,
		metaCParts:   strconv.Itoa(c.parts),
		metaCBytes:   strconv.FormatInt(c.bytes, 10),
		metaCSum:     c.sum,
		metaCCond:    cond,
		metaCVersion: c.version,
	}
}

func parseCommitIntent(md map[string]string) *commitIntent {
	if md[metaState] != stateCommitting {
		return nil
	}
	n, err1 := strconv.Atoi(md[metaCParts])
	b, err2 := strconv.ParseInt(md[metaCBytes], 10, 64)
	if err1 != nil || err2 != nil || n < 1 {
		return nil
	}
	c := &commitIntent{parts: n, bytes: b, sum: md[metaCSum], version: md[metaCVersion]}
	switch v := md[metaCCond]; v {
	case "":
	case "*":
		c.cond.absent = true
	default:
		c.cond.ifMatch = v
	}
	return c
}

// markCommitting rewrites the record of mp (an upload of key) as
// committing, after its first write ended. A failure is logged and the
// commit goes on: a kill before the completion would then leave a partial,
// as before this record existed.
func (s *Store) markCommitting(ctx context.Context, key string, mp *multipart, cond condition, version string) bool {
	s.intents.mu.Lock()
	first := s.intents.writing[mp.id]
	s.intents.mu.Unlock()
	if first != nil {
		select {
		case <-first:
		case <-ctx.Done():
			return false
		}
	}
	parts := mp.sorted()
	c := commitIntent{parts: len(parts), cond: cond, version: version}
	for _, p := range parts {
		c.bytes += p.size
	}
	c.sum, _ = fullChecksum(mp, parts)
	_, err := s.client.PutObject(ctx, &s3.PutObjectInput{
		Bucket: aws.String(s.bucket), Key: aws.String(s.intentKey(mp.id)),
		Body: strings.NewReader(key), ContentLength: aws.Int64(int64(len(key))),
		Metadata: c.metadata(),
	})
	if err != nil {
		s.log.Warn("upload not recorded as committing: if this process dies before the completion, it stays a partial",
			"key", key, "err", err)
		return false
	}
	return true
}

// completeCommitting completes, as its dead process would have, upload id
// of key whose record (rec) says it was committing; parts are the stored
// ones (sorted), marker the head of key's marker (nil: none). done false:
// the record does not match the upload, which is then adopted as a
// partial. gone: the upload no longer exists.
//
// The completion keeps what the dead process's would have kept: with the
// record's condition (an APPE's If-Match, a resume's If-None-Match); for an
// unconditional STOR, an object stored at the name since the record was
// written is newer and stays (If-Match on an older object, If-None-Match
// when there is none, against a write racing this one). A newer file wins
// and the upload is discarded, with a WARN.
func (s *Store) completeCommitting(ctx context.Context, key, id string, rec intent, parts []partDone, mp *multipart,
	marker *s3.HeadObjectOutput, st *SweepStats) (done, gone bool) {
	c := rec.commit
	var bytes int64
	for i, p := range parts[:min(c.parts, len(parts))] {
		if p.num != int32(i+1) {
			break
		}
		bytes += p.size
	}
	mp.parts = parts[:min(c.parts, len(parts))]
	if sum, _ := fullChecksum(mp, mp.parts); len(parts) < c.parts || bytes != c.bytes || (c.sum != "" && sum != "" && sum != c.sum) {
		s.log.Warn("janitor: the stored parts of a committing upload differ from its record: kept as a partial instead",
			"key", key, "parts", len(parts), "want_parts", c.parts, "bytes", bytes, "want_bytes", c.bytes)
		return false, false
	}
	obj, err := s.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(key)})
	if err != nil && !isNotFound(err) {
		st.Errors++
		return true, false
	}
	if err != nil {
		obj = nil
	}
	cond := c.cond
	newer := false
	switch {
	case cond.absent:
		newer = obj != nil
	case cond.ifMatch != "":
		newer = obj == nil || aws.ToString(obj.ETag) != cond.ifMatch
	case obj != nil && !aws.ToTime(obj.LastModified).Before(rec.written):
		newer = true // both to the second: a tie counts as newer
	case obj != nil:
		cond.ifMatch = aws.ToString(obj.ETag)
	default:
		cond.absent = true
	}
	if !newer {
		err = s.completeUpload(ctx, key, mp, cond)
		switch {
		case err == nil:
		case s.isVersion(ctx, key, c.version): // a lost answer: the completion took place
		case isNotFound(err):
			return true, true // completed or aborted by another process meanwhile
		case errors.Is(err, ftp.ErrChanged):
			newer = true
		default:
			st.Errors++
			s.log.Warn("janitor: could not complete the upload a killed process was committing; retried next sweep",
				"key", key, "err", err)
			return true, false
		}
	}
	if newer {
		if err := s.abortMultipart(ctx, key, id); err != nil {
			st.Errors++
			return true, false
		}
		s.log.Warn("janitor: upload a killed process was committing discarded: the name was written meanwhile, the newer file stays",
			"key", key, "bytes", c.bytes)
	} else {
		st.Completed++
		s.log.Info("janitor: upload a killed process was committing completed", "key", key, "bytes", c.bytes)
	}
	if marker != nil && marker.Metadata[metaUploadID] == id {
		s.deleteKey(ctx, s.partialKey(key))
	}
	return true, true
}

// isVersion reports whether the object at key carries metaVersion v.
func (s *Store) isVersion(ctx context.Context, key, v string) bool {
	if v == "" {
		return false
	}
	h, err := s.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(key)})
	return err == nil && objectVersion(h.Metadata) == v
}
