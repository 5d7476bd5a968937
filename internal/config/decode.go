package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"reflect"
	"slices"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// parseYAML parses exactly one YAML document and returns its root node, or
// nil for an empty document.
func parseYAML(data []byte) (*yaml.Node, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, nil
		}
		return nil, fmt.Errorf("config: %w", err)
	}
	var next yaml.Node
	if err := dec.Decode(&next); !errors.Is(err, io.EOF) {
		if err != nil {
			return nil, fmt.Errorf("config: %w", err)
		}
		return nil, &FieldError{Line: next.Line, Msg: "more than one YAML document"}
	}
	if doc.Kind == yaml.DocumentNode {
		if len(doc.Content) == 0 {
			return nil, nil
		}
		return doc.Content[0], nil
	}
	return &doc, nil
}

// decoder overlays a YAML node tree onto a Go value field by field, so that
// every problem (unknown or duplicate key, wrong type, bad value) is
// reported with its field path and line, and decoding goes on after one.
// yaml.v3's own strict mode stops at type errors and names Go types rather
// than field paths.
type decoder struct {
	errs []error
	// lines maps the path of every value present in the file to its line;
	// Parse uses it to tell which keys were given and to put lines on
	// Validate's errors.
	lines map[string]int
	// fromEnv maps the paths set from the environment to the variable.
	fromEnv map[string]string
}

// line is the line of path in the file or, when path is not there (a
// default value), of its closest enclosing key that is; 0 if none is.
func (d *decoder) line(path string) int {
	for path != "" {
		if l, ok := d.lines[path]; ok {
			return l
		}
		i := strings.LastIndexAny(path, ".[")
		if i < 0 {
			break
		}
		path = path[:i]
	}
	return 0
}

func (d *decoder) errorf(n *yaml.Node, path, format string, args ...any) {
	d.errs = append(d.errs, &FieldError{Field: path, Line: n.Line, Msg: fmt.Sprintf(format, args...)})
}

// value decodes n into what ptr points to; path is the field path of n.
func (d *decoder) value(n *yaml.Node, ptr any, path string) {
	d.decode(n, reflect.ValueOf(ptr).Elem(), path)
}

func (d *decoder) decode(n *yaml.Node, v reflect.Value, path string) {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	d.lines[path] = n.Line
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null" {
		// "key:" with no value keeps the default, and empties a list, as
		// in yaml.v3.
		if v.Kind() == reflect.Slice {
			v.SetZero()
		}
		return
	}
	switch {
	case v.Type() == reflect.TypeFor[time.Duration]():
		d.duration(n, v, path)
	case reflect.PointerTo(v.Type()).Implements(reflect.TypeFor[yaml.Unmarshaler]()):
		if n.Kind != yaml.ScalarNode {
			d.errorf(n, path, "want a single value, got %s", kindName(n))
			return
		}
		if err := v.Addr().Interface().(yaml.Unmarshaler).UnmarshalYAML(n); err != nil {
			d.errorf(n, path, "%v", err)
		}
	case v.Kind() == reflect.Struct:
		d.mapping(n, v, path)
	case v.Kind() == reflect.Slice:
		d.sequence(n, v, path)
	case v.Kind() == reflect.Map:
		d.dict(n, v, path)
	default:
		d.scalar(n, v, path)
	}
}

func (d *decoder) duration(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.ScalarNode {
		d.errorf(n, path, "want a duration, got %s", kindName(n))
		return
	}
	dur, err := time.ParseDuration(strings.TrimSpace(n.Value))
	if err != nil {
		d.errorf(n, path, "%q: want a duration with a unit, like \"30s\", \"5m\" or \"1h30m\"", n.Value)
		return
	}
	v.SetInt(int64(dur))
}

func (d *decoder) scalar(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.ScalarNode {
		d.errorf(n, path, "want a single value, got %s", kindName(n))
		return
	}
	if err := n.Decode(v.Addr().Interface()); err != nil {
		// yaml.v3's message names Go types; say what the field wants. Only
		// non-string fields fail here (any scalar is a string), so the
		// value is never a password.
		want := v.Kind().String()
		switch v.Kind() {
		case reflect.Bool:
			want = "true or false"
		case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
			reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
			want = "an integer"
		}
		d.errorf(n, path, "%q: want %s", n.Value, want)
	}
}

func (d *decoder) mapping(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.MappingNode {
		d.errorf(n, path, "want a mapping of keys, got %s", kindName(n))
		return
	}
	fields := map[string][]int{} // key → field index path (inline structs)
	var names []string
	var walk func(t reflect.Type, at []int)
	walk = func(t reflect.Type, at []int) {
		for i := range t.NumField() {
			f := t.Field(i)
			name, opts, _ := strings.Cut(f.Tag.Get("yaml"), ",")
			idx := append(slices.Clip(at), i)
			switch {
			case !f.IsExported() || name == "-":
			case opts == "inline" && f.Type.Kind() == reflect.Struct:
				walk(f.Type, idx)
			case name != "":
				fields[name] = idx
				names = append(names, name)
			}
		}
	}
	walk(v.Type(), nil)
	slices.Sort(names)
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			d.errorf(k, path, "a key must be a plain name, got %s", kindName(k))
			continue
		}
		p := k.Value
		if path != "" {
			p = path + "." + k.Value
		}
		if first, dup := seen[k.Value]; dup {
			d.errorf(k, p, "duplicate key (first at line %d)", first)
			continue
		}
		seen[k.Value] = k.Line
		idx, ok := fields[k.Value]
		if name, _, glued := strings.Cut(k.Value, ":"); !ok && glued {
			// "password:x" in a flow mapping is one plain key (YAML needs
			// a space after the colon); what follows the colon may be a
			// secret, so it is not repeated.
			if path != "" {
				name = path + "." + name
			}
			d.errorf(k, name+":…", "unknown key: write a space after the colon (\"key: value\"); the rest of it is not shown")
			continue
		}
		if !ok {
			d.errorf(k, p, "unknown key (known here: %s)", strings.Join(names, ", "))
			continue
		}
		d.decode(val, v.FieldByIndex(idx), p)
	}
}

func (d *decoder) sequence(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.SequenceNode {
		d.errorf(n, path, "want a list, got %s", kindName(n))
		return
	}
	s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
	for i, item := range n.Content {
		d.decode(item, s.Index(i), fmt.Sprintf("%s[%d]", path, i))
	}
	v.Set(s)
}

// dict decodes a mapping with free-form string keys (tags, metadata); it
// replaces the map's default value.
func (d *decoder) dict(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.MappingNode {
		d.errorf(n, path, "want a mapping of keys, got %s", kindName(n))
		return
	}
	m := reflect.MakeMapWithSize(v.Type(), len(n.Content)/2)
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			d.errorf(k, path, "a key must be a plain name, got %s", kindName(k))
			continue
		}
		p := path + "." + k.Value
		if first, dup := seen[k.Value]; dup {
			d.errorf(k, p, "duplicate key (first at line %d)", first)
			continue
		}
		seen[k.Value] = k.Line
		elem := reflect.New(v.Type().Elem()).Elem()
		d.decode(val, elem, p)
		m.SetMapIndex(reflect.ValueOf(k.Value).Convert(v.Type().Key()), elem)
	}
	v.Set(m)
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		return "a single value"
	}
	return "something else"
}
