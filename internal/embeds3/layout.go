package embeds3

import (
	"cmp"
	"fmt"
	"os"
	"path/filepath"
	"sort"

	"github.com/versity/versitygw/backend"
	"github.com/versity/versitygw/backend/meta"
)

// layout is where the gateway keeps buckets and metadata under Options.Dir.
type layout struct {
	base    string              // absolute Options.Dir
	root    string              // gateway root: base/buckets
	sidecar string              // base/meta when metadata is in a sidecar, else ""
	meta    meta.MetadataStorer // XattrMeta or SideCar
	// maxParts: metadata is in xattrs that hold the part offsets of at
	// most this many parts (see bigXattr); 0: S3's 10 000 fit.
	maxParts int32
}

// bigXattr is what the xattrs of a file must hold for an object completed
// from 10 000 parts: versitygw stores its part offsets as one xattr of
// ~45 KB (compressed JSON, 4.5 bytes a part). ext4 keeps all of a file's
// xattrs in one 4 KiB block, enough for ~800 parts: a 10 GiB upload in
// 5 MiB parts (2 048) failed there at its completion with "no space left
// on device". The sidecar layout has no such limit, but versitygw 1.8.0
// keeps an object's old user metadata in it when the object is
// overwritten (tested by hand: a PUT without metadata over one with
// metadata still shows it), which would serve stale checksums and times.
// So such a filesystem keeps xattrs, and the store announces how many
// parts fit (Store.MaxParts): s3fs grows its parts sooner, and the
// gateway refuses a part number beyond it at UploadPart instead of at the
// completion.
const bigXattr = 64 << 10

// s3MaxParts is S3's limit on the parts of one object, the store's own
// where its xattrs are large enough.
const s3MaxParts = 10000

// xattrReserve is what the other attributes of an object (ETag,
// Content-Type, checksum, user metadata) may take of a file's xattr space
// beside the part offsets.
const xattrReserve = 1 << 10

// xattrPartLimit is how many parts an object completed in dir can have
// when its xattrs are small (0 when bigXattr fits): the largest part
// count whose offsets versitygw's encoding fits, with the other
// attributes, into the largest xattr this filesystem takes, less a tenth
// for offsets that compress worse than equal 5 MiB parts do.
func xattrPartLimit(dir string) int32 {
	if probeXattr(dir, bigXattr) == nil {
		return 0
	}
	room := largestXattr(dir) - xattrReserve
	fits := func(n int) bool {
		offsets := make([]int64, n)
		for i := range offsets {
			offsets[i] = int64(i+1) * (5 << 20)
		}
		b, err := backend.MarshalMpUploadMetadata(backend.MpUploadMetadata{
			UploadID: "00000000-0000-0000-0000-000000000000", Parts: offsets}, false)
		return err == nil && len(b) <= room
	}
	n := sort.Search(s3MaxParts, func(n int) bool { return !fits(n + 1) }) // parts that fit
	return int32(max(n*9/10, 1))
}

// largestXattr is the size of the largest xattr a file in dir takes
// (below bigXattr), found by bisection.
func largestXattr(dir string) int {
	lo, hi := 0, bigXattr // lo fits (or is 0), hi does not
	for hi-lo > 16 {
		mid := (lo + hi) / 2
		if probeXattr(dir, mid) == nil {
			lo = mid
		} else {
			hi = mid
		}
	}
	return lo
}

// parts is the most parts an object can have in this layout.
func (l layout) parts() int { return cmp.Or(int(l.maxParts), s3MaxParts) }

func (l layout) kind() string {
	if l.sidecar != "" {
		return "sidecar"
	}
	return "xattr"
}

// prepareLayout creates the directories and chooses how metadata is stored.
// Paths are made absolute here because posix.New changes the working
// directory.
//
// Metadata goes into user xattrs when the filesystem supports them (probed
// by really writing one, not just by the ENOTSUP check versitygw uses),
// otherwise into Dir/meta — a sibling of the root, because versitygw refuses
// a sidecar inside its root. Once Dir/meta holds anything it stays in use, so
// a store keeps reading its metadata where it wrote it. A filesystem whose
// xattrs cannot hold bigXattr (ext4) gets a part limit (xattrPartLimit).
func prepareLayout(dir string, forceSideCar bool) (layout, error) {
	if dir == "" {
		return layout{}, fmt.Errorf("embeds3: Dir is required")
	}
	base, err := filepath.Abs(dir)
	if err != nil {
		return layout{}, fmt.Errorf("embeds3: resolve %s: %w", dir, err)
	}
	l := layout{base: base, root: filepath.Join(base, "buckets")}
	if err := os.MkdirAll(l.root, 0o755); err != nil {
		return layout{}, fmt.Errorf("embeds3: create data directory: %w", err)
	}

	sidecar := filepath.Join(base, "meta")
	useSideCar := forceSideCar || nonEmptyDir(sidecar)
	if !useSideCar {
		if probeXattr(l.root, 1) != nil {
			useSideCar = true
		} else {
			l.maxParts = xattrPartLimit(l.root)
		}
	}
	if !useSideCar {
		l.meta = meta.XattrMeta{}
		return l, nil
	}
	if err := os.MkdirAll(sidecar, 0o755); err != nil {
		return layout{}, fmt.Errorf("embeds3: create metadata directory: %w", err)
	}
	sc, err := meta.NewSideCar(sidecar)
	if err != nil {
		return layout{}, fmt.Errorf("embeds3: metadata directory %s: %w", sidecar, err)
	}
	l.sidecar, l.meta = sidecar, sc
	return l, nil
}

// probeXattr writes, reads and drops a user xattr of size bytes on a
// scratch file in dir.
func probeXattr(dir string, size int) error {
	f, err := os.CreateTemp(dir, ".xattr-probe-*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	defer f.Close()
	x := meta.XattrMeta{}
	if err := x.StoreAttribute(f, "", "", "s3ftpd-probe", make([]byte, size)); err != nil {
		return err
	}
	_, err = x.RetrieveAttribute(f, "", "", "s3ftpd-probe")
	return err
}

func nonEmptyDir(dir string) bool {
	f, err := os.Open(dir)
	if err != nil {
		return false
	}
	defer f.Close()
	names, _ := f.Readdirnames(1)
	return len(names) > 0
}
