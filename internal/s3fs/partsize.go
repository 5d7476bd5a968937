package s3fs

// Part-size schedule. FTP does not announce a file's size, so an upload
// cannot choose one part size up front: small parts keep memory low for the
// common case, but S3 allows only 10 000 parts. Parts therefore keep the
// configured size up to flatBytes (the first flatParts parts), so an upload
// up to that size holds the same memory from its start to its end, then
// double every partsPerDoubling parts:
//
//	size(n) = PartSize                                          n ≤ flatParts
//	size(n) = min(PartSize × 2^(1+(n-flatParts-1)/partsPerDoubling), maxPart)
//	maxPart = min(5 GiB, max(PartSize, BufferBudget/2), the smallest share cap)
//
// With the defaults (5 MiB, 256 MiB budget, 25 % shares → maxPart 64 MiB)
// parts are 5 MiB up to 10 GiB, then 10, 20 and 40 MiB for 125 parts each
// (up to ~18.5 GiB), then 64 MiB: 10 000 parts hold ~492 GiB (a 512 MiB
// budget: maxPart 128 MiB, ~960 GiB). Parts are buffered whole (S3 needs
// each part's length before sending it, and a part of a stream of unknown
// length is only known to be complete once it is received), so a part
// cannot exceed the budget; half of it leaves room for a second upload or
// for the next part while one is sent. Reaching S3's 5 TiB object limit
// needs maxPart ≥ 1 GiB, i.e. BufferBudget ≥ 4 GiB with the default
// shares. An upload beyond what the schedule allows fails with
// ftp.ErrTooLarge.
//
// A store that keeps fewer parts an object (Options.MaxParts: the embedded
// store on ext4, whose 4 KiB of xattrs a file hold the offsets of ~800)
// gets the same schedule squeezed into its parts: flatParts and
// partsPerDoubling shrink in proportion. At 512 parts that is 104 parts of
// 5 MiB (520 MiB), then 10, 20 and 40 MiB for 6 parts each, then 64 MiB:
// ~25 GiB in 512 parts, where the unsqueezed schedule reached 2.5 GiB.
const (
	flatBytes        = 10 << 30
	partsPerDoubling = 125
)

// flatParts is how many parts keep the configured size.
func (s *Store) flatParts() int32 {
	flat := min(flatBytes/max(s.partSize, 1), MaxParts)
	return int32(flat * int64(s.maxParts) / MaxParts)
}

// perDoubling is how many parts keep each doubled size.
func (s *Store) perDoubling() int32 {
	return max(1, partsPerDoubling*s.maxParts/MaxParts)
}

// maxPartFor is the largest part an upload may buffer.
func maxPartFor(partSize, budget int64) int64 {
	m := max(partSize, budget/2/blockSize*blockSize)
	return min(m, MaxPartSize)
}

// partSize is the target size of part n (1-based).
func (s *Store) partSizeOf(n int32) int64 {
	flat := s.flatParts()
	if n <= flat {
		return min(s.partSize, s.maxPart)
	}
	shift := 1 + (n-flat-1)/s.perDoubling()
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
	for n := int32(1); n <= s.maxParts; n++ {
		total += s.partSizeOf(n)
		if total >= MaxObjectSize {
			return MaxObjectSize
		}
	}
	return total
}
