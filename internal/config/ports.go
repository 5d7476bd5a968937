package config

import (
	"fmt"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// PortRange is an inclusive range of TCP ports. In YAML it is "first-last"
// ("50000-50099") or a single port. Validate checks 1 <= First <= Last <=
// 65535.
type PortRange struct {
	First, Last int
}

// ParsePortRange parses "first-last" or a single port. It checks syntax
// only; see Config.Validate for the range checks.
func ParsePortRange(s string) (PortRange, error) {
	first, last, isRange := strings.Cut(s, "-")
	if !isRange {
		last = first
	}
	f, err1 := strconv.Atoi(strings.TrimSpace(first))
	l, err2 := strconv.Atoi(strings.TrimSpace(last))
	if err1 != nil || err2 != nil {
		return PortRange{}, fmt.Errorf("%q: want \"first-last\", like \"50000-50099\"", s)
	}
	return PortRange{First: f, Last: l}, nil
}

// String is "first-last".
func (r PortRange) String() string { return fmt.Sprintf("%d-%d", r.First, r.Last) }

// Len is the number of ports in the range.
func (r PortRange) Len() int { return max(0, r.Last-r.First+1) }

// Contains reports whether port is in the range.
func (r PortRange) Contains(port int) bool { return port >= r.First && port <= r.Last }

// UnmarshalYAML implements yaml.Unmarshaler.
func (r *PortRange) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("want \"first-last\", like \"50000-50099\"")
	}
	v, err := ParsePortRange(n.Value)
	if err != nil {
		return err
	}
	*r = v
	return nil
}

// MarshalYAML implements yaml.Marshaler.
func (r PortRange) MarshalYAML() (any, error) { return r.String(), nil }
