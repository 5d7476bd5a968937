package s3fs

import (
	"context"
	"io/fs"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// List streams the entries of dir page by page (ListObjectsV2 with
// delimiter "/"), never holding more than one page.
//
// Each page has files (Contents) and subdirectories (CommonPrefixes), each
// sorted; they are merged back into key order. A subdirectory's "sub/"
// marker object rolls up into the "sub/" common prefix, so it appears once.
// The directory's own marker ("dir/" itself) is skipped. S3 (not versitygw)
// allows a file "x" next to a directory "x/": the file wins, as in Stat.
//
// A directory with nothing under it and no marker does not exist
// (fs.ErrNotExist); that includes a path that names a file. The partial
// markers' directory (partial.go) is never listed.
func (f *fsys) List(ctx context.Context, dir string, yield func(fs.FileInfo) error) error {
	key, err := f.key("list", dir)
	if err != nil {
		return err
	}
	prefix := dirPrefix(key)
	in := &s3.ListObjectsV2Input{
		Bucket:    aws.String(f.s.bucket),
		Prefix:    aws.String(prefix),
		Delimiter: aws.String("/"),
	}
	if f.s.pageSize > 0 {
		in.MaxKeys = aws.Int32(f.s.pageSize)
	}
	found := dir == "/"
	var seen recentFiles
	for {
		out, err := f.s.client.ListObjectsV2(ctx, in)
		if err != nil {
			return mapErr("list", dir, err)
		}
		if len(out.Contents) > 0 || len(out.CommonPrefixes) > 0 {
			found = true
		}
		if err := emitPage(prefix, f.s.partialRoot, out.Contents, out.CommonPrefixes, &seen, yield); err != nil {
			return err
		}
		if !aws.ToBool(out.IsTruncated) || aws.ToString(out.NextContinuationToken) == "" {
			break
		}
		in.ContinuationToken = out.NextContinuationToken
	}
	if !found {
		return notExist("list", dir)
	}
	return nil
}

// emitPage merges one page's files and prefixes in key order and yields
// them. The directory hidden (the partial markers') is left out.
func emitPage(prefix, hidden string, objs []types.Object, prefixes []types.CommonPrefix,
	seen *recentFiles, yield func(fs.FileInfo) error) error {
	i, j := 0, 0
	for i < len(objs) || j < len(prefixes) {
		var fi *fileInfo
		var k string
		if j >= len(prefixes) || (i < len(objs) && aws.ToString(objs[i].Key) < aws.ToString(prefixes[j].Prefix)) {
			o := objs[i]
			i++
			k = aws.ToString(o.Key)
			name := strings.TrimPrefix(k, prefix)
			seen.advance(k)
			if name == "" || strings.Contains(name, "/") || k == hidden { // own marker (or a foreign answer)
				continue
			}
			seen.add(k)
			fi = &fileInfo{name: name, size: aws.ToInt64(o.Size), mod: aws.ToTime(o.LastModified)}
		} else {
			k = aws.ToString(prefixes[j].Prefix)
			j++
			name := strings.TrimSuffix(strings.TrimPrefix(k, prefix), "/")
			seen.advance(k)
			if name == "" || strings.Contains(name, "/") || seen.hasFileFor(k) || k == hidden+"/" { // "a//", or file "x" listed
				continue
			}
			fi = &fileInfo{name: name, dir: true}
		}
		if err := yield(fi); err != nil {
			return err
		}
	}
	return nil
}

// recentFiles remembers the keys of listed files that a directory of the
// same name could still follow: the prefix "x/" sorts after the file "x" and
// after keys like "x-1" or "x.txt" ('-' and '.' sort before '/'), but before
// anything greater than "x/". Keys are dropped once the listing has passed
// their "x/", so the memory stays small on any real listing.
type recentFiles struct{ keys []string }

func (r *recentFiles) add(key string) { r.keys = append(r.keys, key) }

// advance drops the keys whose directory form sorts before key.
func (r *recentFiles) advance(key string) {
	n := 0
	for n < len(r.keys) && r.keys[n]+"/" < key {
		n++
	}
	r.keys = r.keys[n:]
}

// hasFileFor reports whether the file for the directory prefix "x/" was
// listed.
func (r *recentFiles) hasFileFor(dirPrefix string) bool {
	return slices.Contains(r.keys, strings.TrimSuffix(dirPrefix, "/"))
}
