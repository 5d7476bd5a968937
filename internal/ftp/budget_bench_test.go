package ftp_test

import (
	"fmt"
	"net/netip"
	"testing"

	"github.com/s3ftpd/s3ftpd/internal/ftp"
)

// BenchmarkBudgetGrant: one block for one of n uploads that are filling
// parts at once (the safety check looks at all of them).
func BenchmarkBudgetGrant(b *testing.B) {
	for _, n := range []int{1, 10, 100} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			bud := testBudget(256<<20, 64<<20, 64<<20, 0)
			hs := make([]*ftp.BudgetHolder, n)
			for i := range hs {
				hs[i] = bud.Holder(netip.AddrFrom4([4]byte{10, 0, byte(i / 256), byte(i)}), fmt.Sprint("u", i%10), 0)
				hs[i].Claim(8 << 20)
				hs[i].TryAcquire(blk)
			}
			b.ResetTimer()
			for i := range b.N {
				h := hs[i%n]
				if h.TryAcquire(blk) {
					h.Release(blk)
				}
			}
		})
	}
}
