package s3fs

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// renameConcurrency bounds the copies of a directory rename.
const renameConcurrency = 8

// deleteBatch is the most keys one DeleteObjects request takes.
const deleteBatch = 1000

// Rename moves a file (copy, then delete the source) or a directory tree
// (copy every key, then delete the sources once every copy succeeded). S3
// has no rename, so a tree rename is not atomic: readers may see both trees
// for a while, and a failure part-way leaves the source complete.
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
	src, err := f.Stat(ctx, from)
	if err != nil {
		return err
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
		if err := f.s.copyObject(ctx, fromKey, toKey, src.Size()); err != nil {
			return mapErr("rename", from, err)
		}
		_, err := f.s.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(f.s.bucket), Key: aws.String(fromKey)})
		return mapErr("rename", from, err)
	}
	return mapErr("rename", from, f.s.renameTree(ctx, fromKey+"/", toKey+"/"))
}

// renameTree copies every key under srcPrefix to dstPrefix, then deletes
// the sources. The source keys are kept in memory (a few dozen bytes each)
// so that exactly the copied keys are deleted; a key written under the
// source during the rename stays there. If a copy fails, the copies made so
// far are deleted and the source is untouched.
func (s *Store) renameTree(ctx context.Context, srcPrefix, dstPrefix string) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		mu       sync.Mutex
		copied   []string // source keys whose copy succeeded
		firstErr error
		wg       sync.WaitGroup
		slots    = make(chan struct{}, renameConcurrency)
	)
	pages := s3.NewListObjectsV2Paginator(s.client, &s3.ListObjectsV2Input{
		Bucket: aws.String(s.bucket), Prefix: aws.String(srcPrefix),
	})
list:
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			mu.Lock()
			firstErr = cmpErr(firstErr, err)
			mu.Unlock()
			break
		}
		for _, o := range page.Contents {
			select {
			case slots <- struct{}{}:
			case <-ctx.Done():
				break list
			}
			wg.Add(1)
			go func(o types.Object) {
				defer wg.Done()
				defer func() { <-slots }()
				src := aws.ToString(o.Key)
				err := s.copyKey(ctx, src, dstPrefix+strings.TrimPrefix(src, srcPrefix), aws.ToInt64(o.Size))
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					firstErr = cmpErr(firstErr, err)
					cancel()
					return
				}
				copied = append(copied, src)
			}(o)
		}
	}
	wg.Wait()
	if firstErr == nil {
		firstErr = ctx.Err()
	}
	if firstErr != nil {
		dsts := make([]string, len(copied))
		for i, k := range copied {
			dsts[i] = dstPrefix + strings.TrimPrefix(k, srcPrefix)
		}
		if err := s.deleteKeys(context.WithoutCancel(ctx), dsts); err != nil {
			s.log.Warn("rename: cannot remove partial copy", "prefix", dstPrefix, "err", err)
		}
		return firstErr
	}
	return s.deleteKeys(ctx, copied)
}

func cmpErr(first, err error) error {
	if first != nil {
		return first
	}
	return err
}

// copyKey copies one key of a tree; a directory marker is written anew
// (copying a directory object is not portable across S3 servers).
func (s *Store) copyKey(ctx context.Context, src, dst string, size int64) error {
	if strings.HasSuffix(src, "/") && size == 0 {
		_, err := s.client.PutObject(ctx, &s3.PutObjectInput{
			Bucket: aws.String(s.bucket), Key: aws.String(dst), ContentLength: aws.Int64(0),
		})
		return err
	}
	return s.copyObject(ctx, src, dst, size)
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
