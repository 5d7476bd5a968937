package s3fs

// Part-size schedule. FTP does not announce a file's size, so an upload
// cannot choose one part size up front: small parts keep memory low for the
// common case, but S3 allows only 10 000 parts. The part size therefore grows
// with the part number:
//
//	size(n) = min(PartSize × 2^((n-1)/partsPerDoubling), maxPart)   n = 1…10 000
//	maxPart = min(5 GiB, max(PartSize, BufferBudget/2))   (block-aligned)
//
// With the defaults (8 MiB, 256 MiB budget → maxPart 128 MiB) parts are
// 8 MiB up to ~2 GB, 16 MiB up to ~6 GB, 32 MiB up to ~14 GB, 64 MiB up to
// ~30 GB, then 128 MiB: 10 000 parts hold 1 182 000 MiB ≈ 1.13 TiB. Parts are
// buffered whole (S3 needs each part's length before sending it, and a part
// of a stream of unknown length is only known to be complete once it is
// received), so a part cannot exceed the budget; half of it leaves room for
// a second upload or for the next part while one is sent. Reaching S3's
// 5 TiB object limit needs maxPart ≥ 1 GiB, i.e. BufferBudget ≥ 2 GiB. An
// upload beyond what the schedule allows fails with ftp.ErrTooLarge.
const partsPerDoubling = 250

// maxPartFor is the largest part an upload may buffer.
func maxPartFor(partSize, budget int64) int64 {
	m := max(partSize, budget/2/blockSize*blockSize)
	return min(m, MaxPartSize)
}

// partSize is the target size of part n (1-based).
func (s *Store) partSizeOf(n int32) int64 {
	shift := (n - 1) / partsPerDoubling
	size := s.partSize
	for range shift {
		if size >= s.maxPart {
			break
		}
		size *= 2
	}
	return min(size, s.maxPart)
}

// maxUploadSize is the largest object the schedule can produce (at most
// S3's 5 TiB).
func (s *Store) maxUploadSize() int64 {
	var total int64
	for n := int32(1); n <= MaxParts; n++ {
		total += s.partSizeOf(n)
		if total >= MaxObjectSize {
			return MaxObjectSize
		}
	}
	return total
}
