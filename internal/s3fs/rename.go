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
	toKey, err := f.key("rename", to)
	if err != nil {
		return err
	}
	if from == "/" || to == "/" || strings.HasPrefix(to, from+"/") {
		return fmt.Errorf("s3fs: rename %s to %s: %w", from, to, fs.ErrInvalid)
	}
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
	dst, err := f.Stat(ctx, to)
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
		_, err := f.s.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(f.s.bucket), Key: aws.String(fromKey)})
		if err != nil {
			return mapErr("rename", from, fmt.Errorf("copied to %s, but the source stays: %w", to, err))
		}
		return nil
	}
	return mapErr("rename", from, f.s.renameTree(ctx, fromKey+"/", toKey+"/", &f.props))
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
		copied   []string // source keys whose copy succeeded
		started  []string // destination keys of every copy begun
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
				copied = append(copied, src)
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
	if err := s.deleteKeys(ctx, copied); err != nil {
		return &TreeRenameError{Copied: len(copied), Listed: listed, Err: err}
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
