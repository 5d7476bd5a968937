package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"
)

// gcLine is the last line GODEBUG=gctrace=1 wrote, e.g.
//
//	gc 12 @3.456s 2%: 0.1+2+0.1 ms clock, … ms cpu, 40->41->9 MB, 80 MB goal, 0 MB stacks, 0 MB globals, 2 P (forced)
//
// live is the heap that survived that collection (the third number).
type gcLine struct {
	n      int
	live   int // MB
	forced bool
	text   string
}

func (g gcLine) String() string {
	if g.text == "" {
		return "none"
	}
	f := ""
	if g.forced {
		f = ", forced"
	}
	return fmt.Sprintf("gc %d, live heap %d MB%s", g.n, g.live, f)
}

// lastGC reads the last gctrace line of a log file.
func lastGC(path string) gcLine {
	data, err := os.ReadFile(path)
	if err != nil {
		return gcLine{}
	}
	lines := strings.Split(string(data), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		if g, ok := parseGC(lines[i]); ok {
			return g
		}
	}
	return gcLine{}
}

func parseGC(line string) (gcLine, bool) {
	f := strings.Fields(line)
	if len(f) < 3 || f[0] != "gc" || !strings.HasPrefix(f[2], "@") {
		return gcLine{}, false
	}
	n, err := strconv.Atoi(f[1])
	if err != nil {
		return gcLine{}, false
	}
	g := gcLine{n: n, forced: strings.HasSuffix(line, "(forced)"), text: line}
	for i, w := range f {
		if w == "MB," && i > 0 && strings.Count(f[i-1], "->") == 2 {
			parts := strings.Split(f[i-1], "->")
			g.live, _ = strconv.Atoi(parts[2])
			return g, true
		}
	}
	return gcLine{}, false
}
