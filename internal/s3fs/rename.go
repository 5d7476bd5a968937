package s3fs

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"golang.org/x/sync/errgroup"

	"github.com/s3ftpd/s3ftpd/internal/ftp"
)

// renameConcurrency bounds the copies of a directory rename.
const renameConcurrency = 8

// deleteBatch is the most keys one DeleteObjects request takes.
const deleteBatch = 1000

// Rename moves a file (one server-side copy, then delete the source) or a
// directory tree (copy every key, then delete the sources once every copy
// succeeded). S3 has no rename, so a tree rename is not atomic: readers may
// see both trees for a while, and a failure part-way leaves the source
// complete (see TreeRenameError).
//
// A renamed file keeps its metadata, storage class and encryption, and
// gets the Content-Type of its new name (x.pdf.filepart → x.pdf). The
// temp-then-rename pattern of FileZilla/WinSCP (*.filepart), proftpd
// HiddenStores (.in.*.) and others is thus one upload plus one copy; the
// upload itself already carries the final name's Content-Type.
//
// A file may replace a file (as rename(2)); nothing replaces a directory,
// and a directory is never moved onto an existing name.
func (f *fsys) Rename(ctx context.Context, from, to string) error {
	fromKey, err := f.key("rename", from)
	if err != nil {
		return err
	}
	toKey, err := f.key("rename to", to)
	if err != nil {
		return err
	}
	f.own.clear() // a tree may move: forget what this session stored
	if from == "/" || to == "/" || strings.HasPrefix(to, from+"/") {
		return fmt.Errorf("s3fs: rename %s to %s: %w", from, to, fs.ErrInvalid)
	}
	// The target is looked at while the source is: one round trip.
	var dst fs.FileInfo
	var dstErr error
	dstDone := make(chan struct{})
	go func() {
		defer close(dstDone)
		if from != to {
			dst, dstErr = f.Stat(ctx, to)
		}
	}()
	defer func() { <-dstDone }()
	head, err := f.s.client.HeadObject(ctx, &s3.HeadObjectInput{
		Bucket: aws.String(f.s.bucket), Key: aws.String(fromKey), ChecksumMode: types.ChecksumModeEnabled,
	})
	var src fs.FileInfo
	switch {
	case err == nil:
		src = &fileInfo{name: baseName(from), size: aws.ToInt64(head.ContentLength)}
	case isNotFound(err):
		if src, err = f.Stat(ctx, from); err != nil {
			return err
		}
	default:
		return mapErr("rename", from, err)
	}
	if from == to {
		return nil
	}
	<-dstDone
	err = dstErr
	switch {
	case err == nil && (dst.IsDir() || src.IsDir()):
		return fmt.Errorf("s3fs: rename %s to %s: %w", from, to, fs.ErrExist)
	case err != nil && classify(err) != fs.ErrNotExist:
		return err
	}
	if !src.IsDir() {
		spec := specFromHead(head, &f.props, contentTypeFor(to))
		if err := f.s.copyObject(ctx, fromKey, toKey, src.Size(), spec); err != nil {
			return mapErr("rename", from, err)
		}
		// Only the object that was copied may go: a STOR that committed
		// on the source since (FileZilla's .filepart, another node) stays.
		err := f.s.deleteIfMatch(ctx, fromKey, aws.ToString(head.ETag))
		if isPrecondition(err) {
			f.s.log.Warn("rename: the source was replaced after it was copied; both names kept",
				"from", fromKey, "to", toKey, "copied_etag", aws.ToString(head.ETag))
			return &sourceChangedError{to: to, err: err}
		}
		if err != nil {
			return mapErr("rename", from, fmt.Errorf("copied to %s, but the source stays: %w", to, err))
		}
		return nil
	}
	return mapErr("rename", from, f.s.renameTree(ctx, fromKey+"/", toKey+"/", &f.props))
}

// sourceChangedError: a file rename copied its source, but the source was
// replaced before it could be deleted; both names stay (450).
type sourceChangedError struct {
	to  string
	err error
}

func (e *sourceChangedError) Error() string {
	return fmt.Sprintf("s3fs: rename: copied to %s, but the source was replaced meanwhile and stays: %v", e.to, e.err)
}

func (e *sourceChangedError) Unwrap() []error { return []error{ftp.ErrChanged, e.err} }

// ClientText is the FTP reply text.
func (e *sourceChangedError) ClientText() string {
	return "Rename not completed: the file was replaced during the rename. The new name holds the content that was renamed, the old name the new upload."
}

// deleteIfMatch deletes key if it still has etag (when the store honours
// the condition; see cond.go).
func (s *Store) deleteIfMatch(ctx context.Context, key, etag string) error {
	in := &s3.DeleteObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(key)}
	if etag != "" && s.conditions(ctx).del {
		in.IfMatch = aws.String(etag)
	}
	_, err := s.client.DeleteObject(ctx, in)
	return err
}

// TreeRenameError is a directory rename that failed part-way. Nothing of
// the source was deleted before all of it was copied: if a copy failed, the
// source is complete and the copies made so far were removed again; if
// deleting the sources failed, the destination is complete and some
// sources remain.
type TreeRenameError struct {
	Copied, Listed int  // keys copied / found so far
	SourceIntact   bool // the failure came before any source was deleted
	Err            error
}

func (e *TreeRenameError) Error() string {
	if e.SourceIntact {
		return fmt.Sprintf("directory rename failed after copying %d of the %d objects listed so far; "+
			"the source is unchanged and the copies were removed: %v", e.Copied, e.Listed, e.Err)
	}
	return fmt.Sprintf("directory rename copied all %d objects but could not delete every source: %v", e.Copied, e.Err)
}

func (e *TreeRenameError) Unwrap() error { return e.Err }

// ClientText is the FTP reply text: what happened, without S3's message.
func (e *TreeRenameError) ClientText() string {
	if e.SourceIntact {
		return fmt.Sprintf("Rename failed after copying %d of %d objects; the source is unchanged.", e.Copied, e.Listed)
	}
	if errors.Is(e.Err, ftp.ErrChanged) {
		return fmt.Sprintf("Rename copied all %d objects, but files replaced during the rename stay under the old name too.", e.Copied)
	}
	return fmt.Sprintf("Rename copied all %d objects but could not delete every source; some remain under the old name.", e.Copied)
}

// renameTree copies every key under srcPrefix to dstPrefix, then deletes
// the sources. The source keys are kept in memory (a few dozen bytes each)
// so that exactly the copied keys are deleted; a key written under the
// source during the rename stays there.
//
// On the first failed copy no new copy starts, the copies in flight run to
// their end (a copy cancelled on our side could still land on the server
// after we cleaned up), every destination key started is deleted again and
// the source is untouched.
func (s *Store) renameTree(ctx context.Context, srcPrefix, dstPrefix string, p *objectProps) error {
	var (
		mu       sync.Mutex
		copied   []types.Object // sources whose copy succeeded, as listed
		started  []string       // destination keys of every copy begun
		listed   int
		firstErr error
		failed   atomic.Bool
		wg       sync.WaitGroup
		slots    = make(chan struct{}, renameConcurrency)
	)
	fail := func(err error) {
		mu.Lock()
		defer mu.Unlock()
		firstErr = cmpErr(firstErr, err)
		failed.Store(true)
	}
	pages := s3.NewListObjectsV2Paginator(s.client, &s3.ListObjectsV2Input{
		Bucket: aws.String(s.bucket), Prefix: aws.String(srcPrefix),
	})
list:
	for pages.HasMorePages() && !failed.Load() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			fail(err)
			break
		}
		for _, o := range page.Contents {
			select {
			case slots <- struct{}{}:
			case <-ctx.Done():
				fail(ctx.Err())
				break list
			}
			if failed.Load() {
				<-slots
				break list
			}
			listed++
			src := aws.ToString(o.Key)
			dst := dstPrefix + strings.TrimPrefix(src, srcPrefix)
			mu.Lock()
			started = append(started, dst)
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer func() { <-slots }()
				if err := s.copyKey(ctx, o, dst, p); err != nil {
					fail(err)
					return
				}
				mu.Lock()
				copied = append(copied, o)
				mu.Unlock()
			}()
		}
	}
	wg.Wait()
	if firstErr != nil {
		if err := s.deleteKeys(context.WithoutCancel(ctx), started); err != nil {
			s.log.Warn("rename: cannot remove partial copy", "prefix", dstPrefix, "err", err)
		}
		return &TreeRenameError{Copied: len(copied), Listed: listed, SourceIntact: true, Err: firstErr}
	}
	if err := s.deleteSources(ctx, copied); err != nil {
		return &TreeRenameError{Copied: len(copied), Listed: listed, Err: err}
	}
	return nil
}

// deleteSources deletes the copied sources of a tree rename, each only if
// it still has the ETag that was copied: DeleteObjects with per-object
// ETags where the store honours them, else one conditional DeleteObject
// per file (versitygw 1.8 ignores the ETags of DeleteObjects). Directory
// markers hold no data and go last, deepest first, unconditionally. A
// source replaced meanwhile stays and makes the error wrap ftp.ErrChanged.
func (s *Store) deleteSources(ctx context.Context, objs []types.Object) error {
	c := s.conditions(ctx)
	var files []types.ObjectIdentifier
	var markers []string
	for _, o := range objs {
		k := aws.ToString(o.Key)
		if strings.HasSuffix(k, "/") {
			markers = append(markers, k)
			continue
		}
		id := types.ObjectIdentifier{Key: o.Key}
		if c.del {
			id.ETag = o.ETag
		}
		files = append(files, id)
	}
	var changed atomic.Int32
	var err error
	switch {
	case c.del && !c.delBatch:
		err = s.deleteEach(ctx, files, &changed)
	default:
		err = s.deleteBatches(ctx, files, &changed)
	}
	if err != nil {
		return err
	}
	if n := changed.Load(); n > 0 {
		s.log.Warn("rename: sources replaced after they were copied stay under the old name too", "replaced", n)
		// A marker over a file that stays would only fail to go.
		return fmt.Errorf("%d sources were replaced during the rename and stay: %w", n, ftp.ErrChanged)
	}
	return s.deleteKeys(ctx, markers)
}

// deleteEach deletes files with one conditional DeleteObject each, up to
// renameConcurrency at once, counting failed preconditions in changed.
func (s *Store) deleteEach(ctx context.Context, files []types.ObjectIdentifier, changed *atomic.Int32) error {
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(renameConcurrency)
	for _, id := range files {
		g.Go(func() error {
			err := s.deleteIfMatch(gctx, aws.ToString(id.Key), aws.ToString(id.ETag))
			if isPrecondition(err) {
				changed.Add(1)
				return nil
			}
			return err
		})
	}
	return g.Wait()
}

// deleteBatches deletes files with DeleteObjects (their ETag, when set, is
// the condition), counting failed preconditions in changed.
func (s *Store) deleteBatches(ctx context.Context, files []types.ObjectIdentifier, changed *atomic.Int32) error {
	for len(files) > 0 {
		n := min(len(files), deleteBatch)
		out, err := s.client.DeleteObjects(ctx, &s3.DeleteObjectsInput{
			Bucket: aws.String(s.bucket),
			Delete: &types.Delete{Objects: files[:n], Quiet: aws.Bool(true)},
		})
		if err != nil {
			return err
		}
		for _, e := range out.Errors {
			if aws.ToString(e.Code) == "PreconditionFailed" {
				changed.Add(1)
				continue
			}
			return fmt.Errorf("delete %s: %s: %w", aws.ToString(e.Key), aws.ToString(e.Code),
				errors.New(aws.ToString(e.Message)))
		}
		files = files[n:]
	}
	return nil
}

func cmpErr(first, err error) error {
	if first != nil {
		return first
	}
	return err
}

// copyKey copies one key of a tree; a directory marker is written anew
// (copying a directory object is not portable across S3 servers).
func (s *Store) copyKey(ctx context.Context, o types.Object, dst string, p *objectProps) error {
	src, size := aws.ToString(o.Key), aws.ToInt64(o.Size)
	if strings.HasSuffix(src, "/") && size == 0 {
		_, err := s.client.PutObject(ctx, &s3.PutObjectInput{
			Bucket: aws.String(s.bucket), Key: aws.String(dst), ContentLength: aws.Int64(0),
		})
		return err
	}
	return s.copyObject(ctx, src, dst, size, specForTree(o, p))
}

// deleteKeys deletes keys with DeleteObjects, deepest first (children sort
// after their directory marker: versitygw cannot drop a marker's directory
// while it still has children).
func (s *Store) deleteKeys(ctx context.Context, keys []string) error {
	slices.Sort(keys)
	slices.Reverse(keys)
	for len(keys) > 0 {
		n := min(len(keys), deleteBatch)
		ids := make([]types.ObjectIdentifier, n)
		for i, k := range keys[:n] {
			ids[i] = types.ObjectIdentifier{Key: aws.String(k)}
		}
		out, err := s.client.DeleteObjects(ctx, &s3.DeleteObjectsInput{
			Bucket: aws.String(s.bucket),
			Delete: &types.Delete{Objects: ids, Quiet: aws.Bool(true)},
		})
		if err != nil {
			return err
		}
		if len(out.Errors) > 0 {
			e := out.Errors[0]
			return fmt.Errorf("delete %s: %s: %w", aws.ToString(e.Key), aws.ToString(e.Code),
				errors.New(aws.ToString(e.Message)))
		}
		keys = keys[n:]
	}
	return nil
}
