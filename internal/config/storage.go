package config

import (
	"maps"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Uploads configures what an interrupted upload leaves (see the README's
// "S3 semantics").
type Uploads struct {
	// Atomic keeps the previous object (or nothing) at the name when an
	// upload is interrupted; false stores what arrived as the object, as
	// vsftpd does.
	Atomic bool `yaml:"atomic"`
	// ResumeWindow is how long the bytes of an interrupted upload are kept
	// for REST+STOR to continue; 0 discards them at once.
	ResumeWindow time.Duration `yaml:"resume_window"`
	// MFMTMaxSize is the largest file whose time MFMT sets: S3 cannot change
	// an object's time, so MFMT copies the object onto itself inside S3,
	// which takes as long as the object is large. Larger files get 504.
	// 0 refuses MFMT for every file. Default 256 MiB.
	MFMTMaxSize Size `yaml:"mfmt_max_size"`
}

// ObjectProps are the properties of stored objects: store.s3.object for
// everyone, users[].object overriding it field by field (tagging and
// metadata key by key). The fields match s3fs.ObjectOptions, so
// s3fs.ObjectOptions(p) converts one.
type ObjectProps struct {
	// ACL is a canned ACL, e.g. bucket-owner-full-control.
	ACL string `yaml:"acl" json:"acl"`
	// SSE is AES256 (SSE-S3) or aws:kms (SSE-KMS).
	SSE string `yaml:"sse" json:"sse"`
	// KMSKeyID is the KMS key for aws:kms; empty = the account's S3 key.
	KMSKeyID string `yaml:"kms_key_id" json:"kms_key_id"`
	// StorageClass, e.g. STANDARD_IA or INTELLIGENT_TIERING.
	StorageClass string `yaml:"storage_class" json:"storage_class"`
	// Tagging is the tag set of every object (at most 10 tags).
	Tagging map[string]string `yaml:"tagging" json:"tagging"`
	// Metadata becomes x-amz-meta-* headers; in values {user} is the
	// uploader and {client_ip} the real client address.
	Metadata map[string]string `yaml:"metadata" json:"metadata"`
}

// S3's enumerations checked by Validate.
func cannedACLs() []string {
	return []string{"private", "public-read", "public-read-write", "authenticated-read",
		"aws-exec-read", "bucket-owner-read", "bucket-owner-full-control"}
}

func sseValues() []string { return []string{"AES256", "aws:kms", "aws:kms:dsse"} }

func storageClasses() []string {
	return []string{"STANDARD", "REDUCED_REDUNDANCY", "STANDARD_IA", "ONEZONE_IA",
		"INTELLIGENT_TIERING", "GLACIER", "DEEP_ARCHIVE", "OUTPOSTS", "GLACIER_IR", "SNOW", "EXPRESS_ONEZONE"}
}

const (
	maxTags     = 10
	maxMetadata = 2 << 10 // S3: user metadata, keys and values, at most 2 KB
	metaPrefix  = "s3ftpd-"
)

func (v *validator) storage(c *Config) {
	if c.Uploads.MFMTMaxSize < 0 {
		v.add("uploads.mfmt_max_size", "%d: must not be negative (0 refuses MFMT)", c.Uploads.MFMTMaxSize)
	}
	if c.Uploads.ResumeWindow < 0 {
		v.add("uploads.resume_window", "%v: must not be negative (0 keeps no partial uploads)", c.Uploads.ResumeWindow)
	}
	v.objectProps("store.s3.object", c.Store.S3.Object, c.Store.S3.Object)
}

// merged is what s3fs makes of a user's props over the global ones.
func merged(g, u ObjectProps) ObjectProps {
	if u.SSE != "" {
		g.SSE = u.SSE
	}
	if u.KMSKeyID != "" {
		g.KMSKeyID = u.KMSKeyID
	}
	g.Tagging = mergeMap(g.Tagging, u.Tagging)
	g.Metadata = mergeMap(g.Metadata, u.Metadata)
	return g
}

func mergeMap(a, b map[string]string) map[string]string {
	m := maps.Clone(a)
	if m == nil {
		m = map[string]string{}
	}
	maps.Copy(m, b)
	return m
}

// objectProps checks p (at field) and the effective props eff of the user.
func (v *validator) objectProps(field string, p, eff ObjectProps) {
	oneOf := func(f, val string, allowed []string) {
		if val != "" && !slices.Contains(allowed, val) {
			v.add(field+"."+f, "%q: want one of %s", val, strings.Join(allowed, ", "))
		}
	}
	oneOf("acl", p.ACL, cannedACLs())
	oneOf("sse", p.SSE, sseValues())
	oneOf("storage_class", p.StorageClass, storageClasses())
	if p.KMSKeyID != "" && !strings.HasPrefix(eff.SSE, "aws:kms") {
		v.add(field+".kms_key_id", "needs sse: aws:kms")
	}
	if len(eff.Tagging) > maxTags {
		v.add(field+".tagging", "%d tags: S3 allows at most %d", len(eff.Tagging), maxTags)
	}
	for _, k := range slices.Sorted(maps.Keys(p.Tagging)) {
		val := p.Tagging[k]
		switch {
		case k == "" || utf8.RuneCountInString(k) > 128 || !tagChars(k):
			v.add(field+".tagging."+k, "tag key: 1 to 128 letters, digits, spaces or + - = . _ : / @")
		case strings.HasPrefix(strings.ToLower(k), "aws:"):
			v.add(field+".tagging."+k, "tag keys starting with aws: are reserved")
		case utf8.RuneCountInString(val) > 256 || !tagChars(val):
			v.add(field+".tagging."+k, "tag value: up to 256 letters, digits, spaces or + - = . _ : / @")
		}
	}
	size := 0
	for k, val := range eff.Metadata {
		size += len(k) + len(val)
	}
	metaKeyRE := regexp.MustCompile(`^[a-z0-9][a-z0-9_-]*$`)
	placeholder := regexp.MustCompile(`\{[^}]*\}`)
	lower := map[string]string{}
	for _, k := range slices.Sorted(maps.Keys(p.Metadata)) {
		if o, dup := lower[strings.ToLower(k)]; dup {
			v.add(field+".metadata."+k, "same key as %q once lower-cased (S3 lower-cases metadata names)", o)
		}
		lower[strings.ToLower(k)] = k
	}
	for _, k := range slices.Sorted(maps.Keys(p.Metadata)) {
		f := field + ".metadata." + k
		switch {
		case !metaKeyRE.MatchString(strings.ToLower(k)):
			v.add(f, "metadata key: letters, digits, - and _ only")
		case strings.HasPrefix(strings.ToLower(k), metaPrefix):
			v.add(f, "keys starting with %q are reserved for s3ftpd", metaPrefix)
		}
		for _, ph := range placeholder.FindAllString(p.Metadata[k], -1) {
			if ph != "{user}" && ph != "{client_ip}" {
				v.add(f, "%s: unknown placeholder (want {user} or {client_ip})", ph)
			}
		}
		if strings.IndexFunc(p.Metadata[k], unicode.IsControl) >= 0 {
			v.add(f, "metadata values must not contain control characters")
		}
	}
	if size > maxMetadata {
		v.add(field+".metadata", "%d bytes: S3 allows at most %d bytes of user metadata", size, maxMetadata)
	}
}

// tagChars reports whether s has only the characters S3 allows in tags.
func tagChars(s string) bool {
	return strings.IndexFunc(s, func(r rune) bool {
		return !unicode.IsLetter(r) && !unicode.IsDigit(r) && !unicode.IsSpace(r) && !strings.ContainsRune("+-=._:/@", r)
	}) < 0
}
