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
// a reflected CRC-32 with polynomial poly (zlib's crc32_combine). It lets
// a multipart upload state its full-object checksum, including parts that
// were copied server-side and never passed through this process.
func crcCombine(poly, crcA, crcB uint32, lenB int64) uint32 {
	z := zerosOp(poly, lenB)
	return gf2Times(&z, crcA) ^ crcB
}

// zerosOp is the GF(2) operator that appends n zero bytes to a CRC:
// multiplication by x^(8·n), built by repeated squaring of the one-bit
// operator. Building it costs ~40 matrix squarings; applying it one
// matrix-vector product, so a completion with thousands of equal parts
// builds it once (fullChecksum) instead of once a part.
func zerosOp(poly uint32, n int64) [32]uint32 {
	var op, sq [32]uint32
	for i := range 32 {
		op[i] = 1 << i // identity
	}
	sq[0] = poly // one zero bit
	for i := 1; i < 32; i++ {
		sq[i] = 1 << (i - 1)
	}
	for range 3 { // one zero bit → one zero byte
		gf2Square(&sq, &sq)
	}
	for ; n > 0; n >>= 1 {
		if n&1 != 0 {
			gf2Mul(&op, &sq)
		}
		if n > 1 {
			gf2Square(&sq, &sq)
		}
	}
	return op
}

// gf2Mul sets op to mat∘op (op applied first).
func gf2Mul(op, mat *[32]uint32) {
	for i := range 32 {
		op[i] = gf2Times(mat, op[i])
	}
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

// gf2Square sets square to mat∘mat; square may be mat.
func gf2Square(square, mat *[32]uint32) {
	m := *mat
	for n := range 32 {
		square[n] = gf2Times(&m, m[n])
	}
}
