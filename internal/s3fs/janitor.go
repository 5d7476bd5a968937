package s3fs

import (
	"context"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// The janitor keeps partials (partial.go) within the resume window and
// makes those of a killed process resumable. It looks only at multipart
// uploads s3ftpd recorded (intent.go), never at other applications':
//
//   - a recorded multipart upload that no upload of this process uses (nor,
//     with Peers, one of another live node), has no marker and has stored
//     parts is an upload whose process died: it gets a marker
//     without a tail ("adopted"), so SIZE and REST+STOR find it. Adopting
//     an upload that is still running elsewhere is harmless: its Commit
//     makes the marker stale, its Abort rewrites it, and S3 refuses to
//     complete an upload whose parts were replaced under it (ETags).
//   - such an upload whose record says its process was committing it
//     (committing.go) is completed instead, unless the name was written
//     since: then the newer file stays and the upload is aborted.
//   - a multipart upload or marker whose last activity is older than the
//     window is deleted, and logged.
//
// Each sweep looks at no more than sweepLimit uploads and markers; the
// next one goes on where it stopped (sweepCursor). Tests lower the limit
// (Store.sweepLimit). It runs at Maintain's start (the process
// start) and then every sweepInterval.
const defaultSweepLimit = 10000

// expiry is how long partials live: the resume window, or (resume off)
// DefaultResumeWindow for multipart uploads of killed processes.
func (s *Store) expiry() time.Duration {
	if s.resumeWindow > 0 {
		return s.resumeWindow
	}
	return DefaultResumeWindow
}

// sweepInterval is a quarter of the expiry, between a minute and an hour.
func (s *Store) sweepInterval() time.Duration {
	return min(max(s.expiry()/4, time.Minute), time.Hour)
}

// Maintain sweeps at once, then every sweepInterval until ctx ends.
func (s *Store) Maintain(ctx context.Context) {
	t := time.NewTicker(s.sweepInterval())
	defer t.Stop()
	for {
		st := s.Sweep(ctx)
		if s.swept != nil {
			s.swept(st.Adopted, st.Completed, st.Expired)
		}
		if st != (SweepStats{}) {
			s.log.Info("partial uploads swept", "adopted", st.Adopted, "completed", st.Completed, "expired", st.Expired, "errors", st.Errors)
		}
		s.log.Debug("janitor: sweep done")
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// SweepStats counts what a sweep did.
type SweepStats struct {
	Adopted   int // multipart uploads given a marker (resumable now)
	Completed int // multipart uploads a killed process was committing, completed now
	Expired   int // partials deleted after the window
	Errors    int // requests that failed (retried next sweep)
}

// Sweep runs the janitor once. With Peers, only one process sweeps at a
// time, and the uploads other live processes have open are left alone.
func (s *Store) Sweep(ctx context.Context) SweepStats {
	var st SweepStats
	others := map[string]bool{}
	if s.peers != nil {
		unlock, ok := s.peers.SweepLock(ctx)
		if !ok {
			return st
		}
		defer unlock()
		var err error
		if others, err = s.peers.OthersRunning(ctx); err != nil {
			s.log.Warn("janitor: skipped: cannot tell which uploads other nodes have open", "err", err)
			return st
		}
	}
	s.sweepUploads(ctx, others, &st)
	s.sweepMarkers(ctx, &st)
	s.sweepOthers(ctx, others, &st)
	return st
}

// sweepUploads looks at the multipart uploads s3ftpd recorded (intent.go):
// those of no live process are expired or adopted; a record whose upload is
// gone is deleted.
func (s *Store) sweepUploads(ctx context.Context, others map[string]bool, st *SweepStats) {
	cutoff := s.now().Add(-s.expiry())
	prefix := s.intentPrefix()
	in := &s3.ListObjectsV2Input{Bucket: aws.String(s.bucket), Prefix: aws.String(prefix)}
	if after := s.cursor.get(&s.cursor.uploads); after != "" {
		in.StartAfter = aws.String(after)
	}
	for seen := 0; ; {
		out, err := s.client.ListObjectsV2(ctx, in)
		if err != nil {
			st.Errors++
			s.log.Warn("janitor: list multipart upload records", "err", err)
			return
		}
		for _, o := range out.Contents {
			if seen++; seen > s.sweepLimit {
				return // the next sweep goes on after the cursor
			}
			rec := aws.ToString(o.Key)
			s.cursor.set(&s.cursor.uploads, rec)
			id, err := url.PathUnescape(strings.TrimPrefix(rec, prefix))
			if err != nil || s.live.hasID(id) || others[id] {
				continue
			}
			in, err := s.readIntent(ctx, rec)
			switch {
			case isNotFound(err):
				continue
			case err != nil:
				st.Errors++
				continue
			}
			if s.sweepUpload(ctx, in, id, aws.ToTime(o.LastModified), cutoff, st) {
				s.deleteKey(ctx, rec) // the upload is gone: completed elsewhere, or expired now
			}
		}
		if !aws.ToBool(out.IsTruncated) || out.NextContinuationToken == nil {
			s.cursor.set(&s.cursor.uploads, "") // the next sweep starts over
			return
		}
		in.ContinuationToken = out.NextContinuationToken
	}
}

// sweepUpload completes, expires or adopts one multipart upload (rec is
// its record); gone reports that it no longer exists (finished meanwhile,
// or completed or expired now).
func (s *Store) sweepUpload(ctx context.Context, rec intent, id string, initiated, cutoff time.Time, st *SweepStats) (gone bool) {
	key := rec.key
	parts, algo, full, newest, err := s.listParts(ctx, key, id)
	if isNotFound(err) {
		return true // finished meanwhile
	}
	if err != nil {
		st.Errors++
		return false
	}
	activity := newest
	if activity.IsZero() {
		activity = initiated
	}
	mk := s.partialKey(key)
	head, err := s.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(mk)})
	switch {
	case err == nil && head.Metadata[metaUploadID] == id:
		if t := aws.ToTime(head.LastModified); t.After(activity) {
			activity = t
		}
	case err != nil && !isNotFound(err):
		st.Errors++
		return
	case err != nil:
		head = nil
	}
	if rec.commit != nil {
		// Its process died while completing it (committing.go).
		if done, gone := s.completeCommitting(ctx, key, id, rec, parts, newMultipart(id, algo, full, 1), head, st); done {
			return gone
		}
	}
	prefix, bytes := resumablePrefix(parts)
	switch {
	case activity.Before(cutoff):
		if err := s.abortMultipart(ctx, key, id); err != nil {
			st.Errors++
			return
		}
		if head != nil && head.Metadata[metaUploadID] == id {
			s.deleteKey(ctx, mk)
		}
		st.Expired++
		s.log.Info("janitor: partial upload expired", "key", key, "bytes", bytes, "last_activity", activity)
		return true
	case head == nil && s.resumeWindow > 0 && bytes > 0:
		obj, err := s.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(key)})
		base := "-"
		switch {
		case err == nil && !aws.ToTime(obj.LastModified).Before(activity.Truncate(time.Second)):
			return // superseded by a later upload: it expires
		case err == nil:
			base = aws.ToString(obj.ETag)
		case !isNotFound(err):
			st.Errors++
			return
		}
		m := marker{uploadID: id, parts: len(prefix), partsBytes: bytes, algo: algo, activity: activity, base: base}
		if err := s.putMarker(ctx, key, m, nil, "", &objectProps{}); err != nil {
			st.Errors++
			return
		}
		st.Adopted++
		s.log.Info("janitor: interrupted upload made resumable", "key", key, "bytes", bytes)
	}
	return false
}

// sweepMarkers deletes markers (and their uploads) older than the window.
// Only the markers themselves are listed (Delimiter "/"), not the upload
// records below them. A pass that lists every marker, from the first,
// rebuilds the marker index (markers.go).
func (s *Store) sweepMarkers(ctx context.Context, st *SweepStats) {
	cutoff := s.now().Add(-s.expiry())
	in := &s3.ListObjectsV2Input{Bucket: aws.String(s.bucket), Prefix: aws.String(s.partialRoot + "/"), Delimiter: aws.String("/")}
	after := s.cursor.get(&s.cursor.markers)
	if after != "" {
		in.StartAfter = aws.String(after)
	} else {
		s.markers.begin()
	}
	complete := false
	defer func() { s.markers.finish(complete && after == "") }()
	for seen := 0; ; {
		out, err := s.client.ListObjectsV2(ctx, in)
		if err != nil {
			st.Errors++
			s.log.Warn("janitor: list partial markers", "err", err)
			return
		}
		for _, o := range out.Contents {
			if seen++; seen > s.sweepLimit {
				return
			}
			mk := aws.ToString(o.Key)
			s.markers.saw(mk)
			s.cursor.set(&s.cursor.markers, mk)
			if !aws.ToTime(o.LastModified).Before(cutoff) {
				continue
			}
			s.expireMarker(ctx, mk, cutoff, st)
		}
		if !aws.ToBool(out.IsTruncated) || out.NextContinuationToken == nil {
			s.cursor.set(&s.cursor.markers, "")
			complete = true
			return
		}
		in.ContinuationToken = out.NextContinuationToken
	}
}

// expireMarker deletes an old marker. Its multipart upload, if any, is
// left to sweepUploads (which knows its key and its activity).
func (s *Store) expireMarker(ctx context.Context, mk string, cutoff time.Time, st *SweepStats) {
	head, err := s.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(mk)})
	if err != nil {
		if !isNotFound(err) {
			st.Errors++
		}
		return
	}
	if t, err := time.Parse(time.RFC3339Nano, head.Metadata[metaActivity]); err == nil && !t.Before(cutoff) {
		return
	}
	if id := head.Metadata[metaUploadID]; id != "" && s.live.hasID(id) {
		return
	}
	s.deleteKey(ctx, mk)
	st.Expired++
	s.log.Info("janitor: partial upload tail expired", "marker", mk,
		"bytes", aws.ToInt64(head.ContentLength), "parts_bytes", atoi(head.Metadata[metaPartsBytes]))
}

func atoi(s string) int64 {
	n, _ := strconv.ParseInt(s, 10, 64)
	return n
}
