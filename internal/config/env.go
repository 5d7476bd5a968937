package config

import (
	"reflect"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// EnvPrefix starts the name of every environment override.
const EnvPrefix = "S3FTPD_"

// EnvName is the environment variable that overrides the key at path
// ("store.s3.secret_key" → S3FTPD_STORE_S3_SECRET_KEY).
func EnvName(path string) string {
	return EnvPrefix + strings.ToUpper(strings.ReplaceAll(path, ".", "_"))
}

// env overlays environment overrides on v (the whole Config): every key
// that is not inside a list has one, named by EnvName. A string key takes
// the variable's value literally (a secret needs no YAML quoting); any
// other key (a number, a duration, a size, a list of addresses written as
// [a, b]) parses it as a YAML value. Lists of mappings (users) have none.
// The names of the variables that were used are kept in d.fromEnv, so that
// errors can name them.
func (d *decoder) env(v reflect.Value, path string, lookup func(string) (string, bool)) {
	t := v.Type()
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "" || name == "-" || !f.IsExported() {
			continue
		}
		p := name
		if path != "" {
			p = path + "." + name
		}
		fv := v.Field(i)
		isScalar := fv.Type() == reflect.TypeFor[time.Duration]() ||
			reflect.PointerTo(fv.Type()).Implements(reflect.TypeFor[yaml.Unmarshaler]())
		switch {
		case !isScalar && fv.Kind() == reflect.Struct:
			d.env(fv, p, lookup)
			continue
		case fv.Kind() == reflect.Map,
			fv.Kind() == reflect.Slice && fv.Type().Elem().Kind() == reflect.Struct:
			continue
		}
		name = EnvName(p)
		val, ok := lookup(name)
		if !ok {
			continue
		}
		n := &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: val}
		if fv.Kind() != reflect.String {
			parsed, err := parseYAML([]byte(val))
			if err != nil || parsed == nil {
				d.errs = append(d.errs, &FieldError{Field: p, Msg: "$" + name + ": not a valid value"})
				continue
			}
			n = parsed
		}
		before := len(d.errs)
		d.decode(n, fv, p)
		for _, e := range d.errs[before:] {
			if fe, ok := e.(*FieldError); ok {
				fe.Line = 0
				fe.Msg += " (from $" + name + ")"
			}
		}
		delete(d.lines, p) // not in the file: no line, no relative path
		d.fromEnv[p] = name
	}
}
