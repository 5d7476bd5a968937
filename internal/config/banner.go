package config

import (
	"strings"
	"unicode"
)

// MaxBanner bounds the banner: clients read the greeting before anything
// else, some into a small buffer.
const MaxBanner = 2048

func (v *validator) banner(b string) {
	if len(b) > MaxBanner {
		v.add("banner", "too long: at most %d bytes", MaxBanner)
	}
	for i, line := range strings.Split(strings.TrimRight(b, "\n"), "\n") {
		for _, r := range line {
			if unicode.IsControl(r) && r != '\t' {
				v.add("banner", "line %d: control character %q (lines are separated by newlines only)", i+1, r)
				return
			}
		}
	}
}

// Welcome is the 220 greeting's text: the banner without trailing newlines
// (a YAML block scalar `|` ends with one), or "" for the default.
func (c *Config) Welcome() string { return strings.TrimRight(c.Banner, "\n") }
