package config

import (
	"reflect"
	"strings"
	"testing"
)

const groupsYAML = `
groups:
  - name: partners
    home: /partners/{user}
    permissions: [list, upload]
    allowed_cidrs: [10.0.0.0/8]
    max_file_size: 1GiB
    bandwidth: {up_per_session: 1MiB}
    object: {storage_class: STANDARD_IA, metadata: {source: partner, tier: a}}
  - name: archive
    home: s3://archive-bucket/in/{user}
    read_only: true
users:
  - {name: acme, password: x, group: partners}
  - name: globex
    password: y
    group: partners
    home: /special
    permissions: [list, download]
    max_file_size: 5MiB
    bandwidth: {down_per_session: 2MiB}
    object: {metadata: {tier: b}}
  - {name: old, password: z, group: archive}
  - {name: direct, password: w, home: "s3://other.bucket-1//x/./y/"}
`

// A user gets each setting it leaves unset from its group; its own win;
// {user} names the member; s3:// homes are normalized.
func TestGroupsAndHomes(t *testing.T) {
	c := mustParse(t, groupsYAML)
	acme, globex, old, direct := c.Users[0], c.Users[1], c.Users[2], c.Users[3]
	if acme.Home != "/partners/acme" || !reflect.DeepEqual(acme.Permissions, []string{"list", "upload"}) ||
		!reflect.DeepEqual(acme.AllowedCIDRs, []string{"10.0.0.0/8"}) || acme.MaxFileSize != GiB ||
		acme.Bandwidth.UpPerSession != MiB || acme.Object.StorageClass != "STANDARD_IA" ||
		acme.Object.Metadata["source"] != "partner" {
		t.Errorf("acme = %+v", acme.Policy)
	}
	if globex.Home != "/special" || !reflect.DeepEqual(globex.Permissions, []string{"list", "download"}) ||
		globex.MaxFileSize != 5*MiB || globex.Bandwidth.UpPerSession != MiB || globex.Bandwidth.DownPerSession != 2*MiB ||
		!reflect.DeepEqual(globex.Object.Metadata, map[string]string{"source": "partner", "tier": "b"}) {
		t.Errorf("globex = %+v", globex.Policy)
	}
	if old.Home != "s3://archive-bucket/in/old" || !old.ReadOnly {
		t.Errorf("old = %+v", old.Policy)
	}
	if b, dir := SplitHome(old.Home); b != "archive-bucket" || dir != "/in/old" {
		t.Errorf("SplitHome(%q) = %q, %q", old.Home, b, dir)
	}
	if direct.Home != "s3://other.bucket-1/x/y" {
		t.Errorf("direct home %q", direct.Home)
	}
	if got := c.HomeBuckets(); !reflect.DeepEqual(got, []string{"archive-bucket", "other.bucket-1"}) {
		t.Errorf("HomeBuckets = %v", got)
	}
	// The group itself keeps its {user}.
	if c.Groups[0].Home != "/partners/{user}" {
		t.Errorf("group home %q", c.Groups[0].Home)
	}
}

func TestGroupAndHomeMistakes(t *testing.T) {
	_, err := Parse([]byte(`
groups:
  - name: g
    permissions: [fly]
  - name: g
    home: s3://Bad_Bucket/x
users:
  - {name: a, password: x, group: nope}
  - {name: b, password: x, home: "s3://ok-bucket/../etc"}
  - {name: c, password: x, home: "s3://ab"}
  - {name: "d/e", password: x, home: "/{user}"}
  - {name: f, password: x, tls: sometimes}
`))
	errs := joinErrs(fieldErrors(t, err))
	for _, want := range []string{
		`groups[0].permissions`,
		`groups[1].name: "g": duplicate`,
		`groups[1].home`,
		`users[0].group: user "a": "nope": no such group`,
		`users[1].home: user "b": "s3://ok-bucket/../etc": must not contain ".."`,
		`users[2].home: user "c": "s3://ab": want s3://bucket/prefix`,
		`users[3].home: user "d/e": the name cannot fill {user}`,
		`users[4].tls: user "f": "sometimes"`,
	} {
		if !strings.Contains(errs, want) {
			t.Errorf("errors lack %q:\n%s", want, errs)
		}
	}
}

// The hook's answer is a user entry in JSON: the same keys, the same
// checks, groups applied; unknown keys refuse the login.
func TestHookUser(t *testing.T) {
	c := mustParse(t, groupsYAML)
	u, err := c.HookUser("partner7", []byte(`{"group": "partners", "max_file_size": "10MiB",
		"bandwidth": {"down_per_user": 1048576}, "tls_required": true,
		"object": {"acl": "bucket-owner-full-control", "tagging": {"via": "hook"}}}`))
	if err != nil {
		t.Fatal(err)
	}
	if u.Name != "partner7" || u.Home != "/partners/partner7" || u.MaxFileSize != 10*MiB ||
		u.Bandwidth.DownPerUser != MiB || u.Bandwidth.UpPerSession != MiB || u.TLS != "required" ||
		u.Object.ACL != "bucket-owner-full-control" || u.Object.Tagging["via"] != "hook" ||
		u.Object.Metadata["source"] != "partner" || !reflect.DeepEqual(u.Permissions, []string{"list", "upload"}) {
		t.Errorf("hook user = %+v", u)
	}
	u, err = c.HookUser("x", []byte(`{"home": "s3://hook-bucket/p"}`))
	if err != nil || u.Home != "s3://hook-bucket/p" {
		t.Errorf("s3 home: %+v, %v", u, err)
	}
	for body, want := range map[string]string{
		`{"permisions": ["list"]}`:              `unknown field "permisions"`,
		`{"home": "/../etc"}`:                   `must not contain ".."`,
		`{"permissions": ["fly"]}`:              `profile.permissions`,
		`{"group": "nope"}`:                     `no such group`,
		`{"max_file_size": -1}`:                 `whole number of bytes`,
		`{"max_file_size": "lots"}`:             `want a size`,
		`{"object": {"storage_class": "cold"}}`: `profile.object.storage_class`,
		`{"password": "x"}`:                     `unknown field "password"`,
		`not json`:                              `profile:`,
	} {
		if _, err := c.HookUser("x", []byte(body)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: err %v, want %q", body, err, want)
		}
	}
}
