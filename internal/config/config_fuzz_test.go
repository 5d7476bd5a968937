package config

import (
	"errors"
	"os"
	"regexp"
	"strings"
	"testing"
)

// FuzzConfig parses YAML chosen by the fuzzer (seeded with the README's
// examples) and checks: Parse never panics; a config it accepts passes
// Validate again; a refusal is a list of *FieldError (naming a field or a
// line) or a YAML syntax error, never anything else; and no error text
// repeats a password, a secret or a password hash given in the input.
func FuzzConfig(f *testing.F) {
	if readme, err := os.ReadFile("../../README.md"); err == nil {
		for _, m := range regexp.MustCompile("(?s)```yaml\n(.*?)```").FindAllSubmatch(readme, -1) {
			f.Add(string(m[1]))
		}
	}
	for _, s := range []string{
		"",
		"listen: 0.0.0.0:21\nlimits: {max_hash_bytes: 1GiB, max_sessions: -1}\n",
		"users:\n  - {name: a, password: hunter2-secret, home: /a}\n  - {name: a, password_hash: $2a$10$zzz}\n",
		"a: &x [*x]\n",
		"users: &u [{name: b, password: p}]\nstore: *u\n",
		"timeouts: {idle: 5, login: 1h}\npassive: {ports: 30000-29999}\n",
		"cluster: {secret: topsecret-value, redis: {password: redispass-value}}\n",
		"--- \n---\n",
		"store: {s3: {bucket: b, part_size: 1KiB, buffer_budget: 99999999999GiB}}\n",
		"proxy_protocol: {trusted: [10.0.0.0/33, ::1], required: true}\n",
	} {
		f.Add(s)
	}
	secret := regexp.MustCompile(`(?m)(?:password|password_hash|secret)\s*:\s*([^\s,}\]]{8,})`)
	f.Fuzz(func(t *testing.T, in string) {
		if len(in) > 1<<14 {
			return
		}
		cfg, err := Parse([]byte(in))
		if err == nil {
			if err := cfg.Validate(); err != nil {
				t.Fatalf("accepted, then Validate: %v", err)
			}
			return
		}
		for _, e := range unwrapAll(err) {
			var fe *FieldError
			switch {
			case errors.As(e, &fe):
				if fe.Field == "" && fe.Line == 0 {
					t.Errorf("an error with neither field nor line: %v", e)
				}
			case strings.HasPrefix(e.Error(), "config: yaml:"):
			default:
				t.Errorf("error of another kind: %T %v", e, e)
			}
		}
		// The hint on hash formats is the validator's own text.
		msg := strings.ReplaceAll(err.Error(), `(bcrypt "$2a$10$...", argon2id, or the crypt formats $6$, $5$, $1$)`, "")
		for _, m := range secret.FindAllStringSubmatch(in, -1) {
			v := strings.Trim(m[1], `"'`)
			if len(v) >= 8 && strings.Contains(msg, v) && !strings.Contains(strings.ReplaceAll(in, m[0], ""), v) {
				t.Errorf("an error repeats the secret %q:\n%s", v, msg)
			}
		}
	})
}
