package s3fs

import (
	"encoding/base64"
	"encoding/binary"
	"hash"
	"hash/crc32"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// crcAlgo is the S3 additional checksum an upload's parts carry: CRC32
// (IEEE) for new objects, CRC32C where the source of a server-side copy
// already has a CRC32 (see appendUpload).
type crcAlgo struct {
	name  types.ChecksumAlgorithm
	table *crc32.Table
	poly  uint32 // reversed polynomial, for crcCombine
}

func algoCRC32() crcAlgo {
	return crcAlgo{types.ChecksumAlgorithmCrc32, crc32.IEEETable, crc32.IEEE}
}

func algoCRC32C() crcAlgo {
	return crcAlgo{types.ChecksumAlgorithmCrc32c, crc32.MakeTable(crc32.Castagnoli), crc32.Castagnoli}
}

// algoByName maps a ChecksumAlgorithm S3 reported; ok is false for one we
// do not compute.
func algoByName(n types.ChecksumAlgorithm) (crcAlgo, bool) {
	switch n {
	case types.ChecksumAlgorithmCrc32:
		return algoCRC32(), true
	case types.ChecksumAlgorithmCrc32c:
		return algoCRC32C(), true
	}
	return crcAlgo{}, false
}

// other is the algorithm that is not a.
func (a crcAlgo) other() crcAlgo {
	if a.name == types.ChecksumAlgorithmCrc32 {
		return algoCRC32C()
	}
	return algoCRC32()
}

func (a crcAlgo) new() hash.Hash32 { return crc32.New(a.table) }

// partSum returns the checksum field of a's kind from an S3 answer.
func (a crcAlgo) pick(crc32, crc32c *string) string {
	if a.name == types.ChecksumAlgorithmCrc32 {
		return aws.ToString(crc32)
	}
	return aws.ToString(crc32c)
}

// set stores sum in the checksum field of a's kind.
func (a crcAlgo) set(crc32, crc32c **string, sum string) {
	if a.name == types.ChecksumAlgorithmCrc32 {
		*crc32 = aws.String(sum)
	} else {
		*crc32c = aws.String(sum)
	}
}

// crcBase64 is the x-amz-checksum-* form of a CRC: base64 of its
// big-endian bytes.
func crcBase64(h hash.Hash32) string { return crcToBase64(h.Sum32()) }

func crcToBase64(v uint32) string {
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], v)
	return base64.StdEncoding.EncodeToString(b[:])
}

// crcFromBase64 parses a full-object CRC ("-N" composite values fail).
func crcFromBase64(s string) (uint32, bool) {
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil || len(b) != 4 {
		return 0, false
	}
	return binary.BigEndian.Uint32(b), true
}

// crcCombine returns the CRC of A‖B from crc(A), crc(B) and len(B), for
// a reflected CRC-32 with polynomial poly (zlib's crc32_combine: multiply
// crc(A) by x^(8·len(B)) in GF(2) with repeated matrix squaring). It lets
// a multipart upload state its full-object checksum when some parts were
// copied server-side and never passed through this process.
func crcCombine(poly, crcA, crcB uint32, lenB int64) uint32 {
	if lenB <= 0 {
		return crcA
	}
	var even, odd [32]uint32
	odd[0] = poly // the operator for one zero bit
	row := uint32(1)
	for n := 1; n < 32; n++ {
		odd[n] = row
		row <<= 1
	}
	gf2Square(&even, &odd) // two zero bits
	gf2Square(&odd, &even) // four zero bits
	for {
		gf2Square(&even, &odd) // first pass: one zero byte
		if lenB&1 != 0 {
			crcA = gf2Times(&even, crcA)
		}
		lenB >>= 1
		if lenB == 0 {
			break
		}
		gf2Square(&odd, &even)
		if lenB&1 != 0 {
			crcA = gf2Times(&odd, crcA)
		}
		lenB >>= 1
		if lenB == 0 {
			break
		}
	}
	return crcA ^ crcB
}

func gf2Times(mat *[32]uint32, vec uint32) uint32 {
	var sum uint32
	for i := 0; vec != 0; i, vec = i+1, vec>>1 {
		if vec&1 != 0 {
			sum ^= mat[i]
		}
	}
	return sum
}

func gf2Square(square, mat *[32]uint32) {
	for n := range 32 {
		square[n] = gf2Times(mat, mat[n])
	}
}
