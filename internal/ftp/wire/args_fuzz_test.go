package wire

import (
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// FuzzArgs feeds one argument to every argument parser (PORT, EPRT, REST,
// OPTS MLST facts, the X hash commands) and checks what each accepts: it
// is in range, and written back in the command's own syntax it parses to
// the same value.
// allFacts are package ftp's MLSx facts.
var allFacts = []string{"type", "size", "modify", "perm"}

func FuzzArgs(f *testing.F) {
	for _, s := range []string{
		"127,0,0,1,4,1", " 10, 0 ,0,1,255,255", "1,2,3,4,5", "256,0,0,1,0,1", "-1,0,0,1,0,1",
		"|1|127.0.0.1|5282|", "|2|::1|5282|", "!2!fe80::1%eth0!1!", "|1|::1|1|", "|3|x|1|", "|1|1.2.3.4|0|",
		"0", "123456789", "-5", "+7", "1e3",
		"type;size;modify;perm;", "SIZE; Type ;x;size", ";;",
		"a.txt", "a.txt 6", "a.txt 6 11", "my file 2024 10 20", "x 5 3", "x -1", "x 99999999999999999999",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, arg string) {
		if ap, ok := ParsePORT(arg); ok {
			a, p := ap.Addr().As4(), ap.Port()
			back := fmt.Sprintf("%d,%d,%d,%d,%d,%d", a[0], a[1], a[2], a[3], p>>8, p&0xff)
			if ap2, ok := ParsePORT(back); !ok || ap2 != ap || !ap.Addr().Is4() {
				t.Errorf("PORT %q = %v; %q = %v, %v", arg, ap, back, ap2, ok)
			}
		}
		ap, code := ParseEPRT(arg)
		switch code {
		case 0:
			proto := "2"
			if ap.Addr().Is4() {
				proto = "1"
			}
			d := arg[:1]
			back := d + proto + d + ap.Addr().String() + d + strconv.Itoa(int(ap.Port())) + d
			if ap.Port() == 0 {
				t.Errorf("EPRT %q accepted port 0", arg)
			}
			if ap2, code := ParseEPRT(back); code != 0 || ap2 != ap {
				t.Errorf("EPRT %q = %v; %q = %v, %d", arg, ap, back, ap2, code)
			}
		case 501, 522:
			if ap != (netip.AddrPort{}) {
				t.Errorf("EPRT %q refused (%d) with an address %v", arg, code, ap)
			}
		default:
			t.Errorf("EPRT %q: code %d", arg, code)
		}
		if n, ok := ParseREST(arg); ok {
			if n2, ok := ParseREST(strconv.FormatInt(n, 10)); n < 0 || !ok || n2 != n {
				t.Errorf("REST %q = %d", arg, n)
			}
		}
		facts := ParseFacts(arg, allFacts)
		for i, fact := range facts {
			if !slices.Contains(allFacts, fact) || slices.Contains(facts[:i], fact) {
				t.Errorf("OPTS MLST %q = %q", arg, facts)
			}
		}
		name, start, end, err := ParseRange(arg)
		if err != nil {
			return
		}
		if name == "" || start < 0 || (end >= 0 && end < start) || end < -1 {
			t.Fatalf("XCRC %q = %q [%d, %d)", arg, name, start, end)
		}
		// The name and the offsets are the argument's words, in order:
		// no offset is left in the name, none taken from it.
		if name == arg && (start != 0 || end != -1) {
			t.Errorf("XCRC %q: offsets [%d, %d) also left in the name", arg, start, end)
		}
		if name != arg {
			words, nw := strings.Fields(arg), strings.Fields(name)
			nums := []int64{start}
			if end >= 0 {
				nums = append(nums, end)
			}
			ok := len(words) == len(nw)+len(nums) && slices.Equal(words[:len(nw)], nw)
			for i := 0; ok && i < len(nums); i++ {
				w := words[len(nw)+i]
				v, err := strconv.ParseInt(w, 10, 64)
				ok = err == nil && v == nums[i] && strings.Trim(w, "0123456789") == ""
			}
			if !ok {
				t.Errorf("XCRC %q = %q [%d, %d): not the argument's words", arg, name, start, end)
			}
		}
		if end >= 0 {
			back := fmt.Sprintf("%s %d %d", name, start, end)
			if n2, s2, e2, err := ParseRange(back); err != nil || n2 != name || s2 != start || e2 != end {
				t.Errorf("XCRC %q = %q [%d, %d); %q = %q [%d, %d) %v", arg, name, start, end, back, n2, s2, e2, err)
			}
		}
	})
}
