package config

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// Size is a number of bytes. In YAML it is a plain integer (bytes) or a
// string with a unit: "8MiB", "256 MiB", "5GB", "512B".
type Size int64

// Size units: binary (KiB, MiB, GiB) and decimal (KB, MB, GB).
const (
	B   Size = 1
	KiB Size = 1 << 10
	MiB Size = 1 << 20
	GiB Size = 1 << 30
	KB  Size = 1000
	MB  Size = 1000 * KB
	GB  Size = 1000 * MB
)

// sizeUnits in String's order of preference.
func sizeUnits() []struct {
	name string
	size Size
} {
	return []struct {
		name string
		size Size
	}{{"GiB", GiB}, {"MiB", MiB}, {"KiB", KiB}, {"GB", GB}, {"MB", MB}, {"KB", KB}, {"B", B}}
}

// ParseSize parses a size: digits, optionally followed by a unit (B, KiB,
// MiB, GiB, KB, MB, GB; case-insensitive, spaces allowed).
func ParseSize(s string) (Size, error) {
	t := strings.TrimSpace(s)
	i := 0
	for i < len(t) && t[i] >= '0' && t[i] <= '9' {
		i++
	}
	if i == 0 {
		return 0, fmt.Errorf("%q: want a size in bytes or with a unit, like \"8MiB\"", s)
	}
	n, err := strconv.ParseInt(t[:i], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%q: number too large", s)
	}
	unit := strings.TrimSpace(t[i:])
	if unit == "" {
		return Size(n), nil
	}
	for _, u := range sizeUnits() {
		if strings.EqualFold(unit, u.name) {
			if n > math.MaxInt64/int64(u.size) {
				return 0, fmt.Errorf("%q: too large", s)
			}
			return Size(n) * u.size, nil
		}
	}
	return 0, fmt.Errorf("%q: unknown unit %q (want B, KiB, MiB, GiB, KB, MB or GB)", s, unit)
}

// String is the size in the largest unit that divides it: "8MiB", "5GB",
// "1000001B".
func (s Size) String() string {
	if s == 0 {
		return "0B"
	}
	for _, u := range sizeUnits() {
		if s%u.size == 0 {
			return strconv.FormatInt(int64(s/u.size), 10) + u.name
		}
	}
	return strconv.FormatInt(int64(s), 10) + "B" // negative, not from ParseSize
}

// UnmarshalYAML implements yaml.Unmarshaler.
func (s *Size) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("want a size like \"8MiB\"")
	}
	v, err := ParseSize(n.Value)
	if err != nil {
		return err
	}
	*s = v
	return nil
}

// UnmarshalJSON implements json.Unmarshaler: a number of bytes or a
// string as in YAML ("8MiB"), for the auth hook's profiles.
func (s *Size) UnmarshalJSON(b []byte) error {
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	switch v := v.(type) {
	case float64:
		if v < 0 || v != math.Trunc(v) || v > math.MaxInt64 {
			return fmt.Errorf("%v: want a whole number of bytes", v)
		}
		*s = Size(v)
	case string:
		n, err := ParseSize(v)
		if err != nil {
			return err
		}
		*s = n
	default:
		return fmt.Errorf("want a size like 1048576 or \"1MiB\"")
	}
	return nil
}

// MarshalYAML implements yaml.Marshaler.
func (s Size) MarshalYAML() (any, error) { return s.String(), nil }
