package wire

import (
	"errors"
	"net/netip"
	"slices"
	"strconv"
	"strings"
)

// Argument parsers of the commands that take more than a path: pure
// functions of the argument, fuzzed by FuzzArgs.

// ParsePORT parses "h1,h2,h3,h4,p1,p2" (RFC 959 §4.1.2): six decimal
// numbers 0-255, the IPv4 address and the port's two bytes.
func ParsePORT(arg string) (netip.AddrPort, bool) {
	var b [6]int
	parts := strings.Split(arg, ",")
	if len(parts) != 6 {
		return netip.AddrPort{}, false
	}
	for i := range parts {
		n, err := strconv.Atoi(strings.TrimSpace(parts[i]))
		if err != nil || n < 0 || n > 255 {
			return netip.AddrPort{}, false
		}
		b[i] = n
	}
	ip := netip.AddrFrom4([4]byte{byte(b[0]), byte(b[1]), byte(b[2]), byte(b[3])})
	return netip.AddrPortFrom(ip, uint16(b[4]<<8|b[5])), true
}

// ParseEPRT parses "|proto|addr|port|" (RFC 2428 §2), with any delimiter
// in 33-126. The code is 0 when it parsed, 522 for a protocol other than
// 1 (IPv4) and 2 (IPv6), 501 for anything else.
func ParseEPRT(arg string) (netip.AddrPort, int) {
	if len(arg) < 2 {
		return netip.AddrPort{}, 501
	}
	f := strings.Split(arg, arg[:1])
	if len(f) != 5 || f[0] != "" || f[4] != "" {
		return netip.AddrPort{}, 501
	}
	ip, err1 := netip.ParseAddr(f[2])
	port, err2 := strconv.Atoi(f[3])
	switch {
	case f[1] != "1" && f[1] != "2":
		return netip.AddrPort{}, 522
	case err1 != nil || err2 != nil || port < 1 || port > 65535 || (f[1] == "1") != ip.Is4():
		return netip.AddrPort{}, 501
	}
	return netip.AddrPortFrom(ip, uint16(port)), 0
}

// ParseREST parses REST's byte offset (RFC 3659 §5.2): a non-negative
// decimal number.
func ParseREST(arg string) (int64, bool) {
	n, err := strconv.ParseInt(arg, 10, 64)
	return n, err == nil && n >= 0
}

// ParseFacts parses the fact list of OPTS MLST (RFC 3659 §7.9):
// "fact;fact;..." of which the known ones are kept, lower case, once each,
// in the order given.
func ParseFacts(value string, known []string) []string {
	var facts []string
	for _, f := range strings.Split(value, ";") {
		f = strings.ToLower(strings.TrimSpace(f))
		if slices.Contains(known, f) && !slices.Contains(facts, f) {
			facts = append(facts, f)
		}
	}
	return facts
}

// ParseRange splits "path [start [end]]" (XCRC, XMD5, XSHA1, XSHA256). A
// path may contain spaces, so the last one or two space-separated words
// are offsets when they are plain decimal numbers, and the path is what
// comes before them, without the spaces between.
//
// Found by FuzzArgs: the earlier version split on any Unicode space and
// then cut the offsets off the argument as one string, so that with two
// spaces between them ("f 5  6") the offsets stayed in the path as well.
func ParseRange(arg string) (name string, start, end int64, err error) {
	end = -1
	name = arg
	var nums []int64
	for len(nums) < 2 {
		rest := strings.TrimRight(name, " ")
		i := strings.LastIndexByte(rest, ' ')
		if i < 0 {
			break
		}
		n, ok := decimal(rest[i+1:])
		if !ok || strings.TrimRight(rest[:i], " ") == "" {
			break
		}
		nums = append([]int64{n}, nums...)
		name = strings.TrimRight(rest[:i], " ")
	}
	switch len(nums) {
	case 2:
		start, end = nums[0], nums[1]
	case 1:
		start = nums[0]
	}
	if name == "" || (end >= 0 && end < start) {
		return "", 0, 0, errBadRange
	}
	return name, start, end, nil
}

// decimal parses a non-negative decimal number of digits only (no sign).
func decimal(s string) (int64, bool) {
	if s == "" || strings.Trim(s, "0123456789") != "" {
		return 0, false
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil
}

var errBadRange = errors.New("bad arguments: want path [start [end]]")
