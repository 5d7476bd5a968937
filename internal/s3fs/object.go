package s3fs

import (
	"maps"
	"mime"
	"net/netip"
	"net/url"
	"path"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/s3ftpd/s3ftpd/internal/s3fs/mimetypes"
)

// ObjectOptions are the properties every object a user stores gets:
// store.s3.object globally, users[].object per user (see merge). Empty
// fields leave the bucket's defaults. Values are checked by the config
// package; S3 rejects what slips through (a 451 at upload).
type ObjectOptions struct {
	// ACL is a canned ACL: private, public-read, bucket-owner-full-control…
	ACL string
	// SSE is the server-side encryption: AES256 (SSE-S3) or aws:kms.
	SSE string
	// KMSKeyID is the KMS key of aws:kms ("" = the account's S3 key).
	KMSKeyID string
	// StorageClass: STANDARD, STANDARD_IA, INTELLIGENT_TIERING…
	StorageClass string
	// Tagging is stored as the object's tag set.
	Tagging map[string]string
	// Metadata is stored as x-amz-meta-* headers. In values, {user} is the
	// uploader's login name and {client_ip} the real client address.
	Metadata map[string]string
}

// merge returns o with every field that u sets taken from u; metadata and
// tags are merged key by key (u wins).
func (o ObjectOptions) merge(u ObjectOptions) ObjectOptions {
	pick := func(a, b string) string {
		if b != "" {
			return b
		}
		return a
	}
	o.ACL = pick(o.ACL, u.ACL)
	o.SSE = pick(o.SSE, u.SSE)
	o.KMSKeyID = pick(o.KMSKeyID, u.KMSKeyID)
	o.StorageClass = pick(o.StorageClass, u.StorageClass)
	o.Tagging = mergeMaps(o.Tagging, u.Tagging)
	o.Metadata = mergeMaps(lowerKeys(o.Metadata), lowerKeys(u.Metadata))
	return o
}

// lowerKeys lower-cases metadata names as S3 does, so that a user's "Who"
// overrides a global "who".
func lowerKeys(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[strings.ToLower(k)] = v
	}
	return out
}

func mergeMaps(a, b map[string]string) map[string]string {
	if len(a)+len(b) == 0 {
		return nil
	}
	m := maps.Clone(a)
	if m == nil {
		m = map[string]string{}
	}
	maps.Copy(m, b)
	return m
}

// Metadata keys s3ftpd itself writes (x-amz-meta-s3ftpd-…). User metadata
// must not use the prefix.
const (
	MetaPrefix = "s3ftpd-"
	metaSHA256 = MetaPrefix + "sha256" // hex SHA-256 of the whole object
	metaMTime  = MetaPrefix + "mtime"  // MFMT time, RFC 3339 UTC
	// metaVersion is a random id of the upload that stored the object (a
	// copy keeps it): two uploads of the same bytes have the same ETag but
	// not the same version (see partial.go, Staleness).
	metaVersion = MetaPrefix + "version"
)

// objectVersion is an object's metaVersion, "-" when it has none.
func objectVersion(md map[string]string) string {
	if v := md[metaVersion]; v != "" {
		return v
	}
	return "-"
}

// objectProps are ObjectOptions resolved for one user's session: the
// headers of PutObject, CreateMultipartUpload and CopyObject.
type objectProps struct {
	acl          types.ObjectCannedACL
	sse          types.ServerSideEncryption
	kmsKeyID     string
	storageClass types.StorageClass
	tagging      string            // URL-encoded tag set
	metadata     map[string]string // placeholders expanded, header-safe
}

// resolve expands placeholders for user and client and encodes the values
// for HTTP headers.
func (o ObjectOptions) resolve(user string, client netip.Addr) objectProps {
	p := objectProps{
		acl:          types.ObjectCannedACL(o.ACL),
		sse:          types.ServerSideEncryption(o.SSE),
		kmsKeyID:     o.KMSKeyID,
		storageClass: types.StorageClass(o.StorageClass),
	}
	if len(o.Tagging) > 0 {
		v := url.Values{}
		for _, k := range slices.Sorted(maps.Keys(o.Tagging)) {
			v.Set(k, o.Tagging[k])
		}
		p.tagging = v.Encode()
	}
	ip := ""
	if client.IsValid() {
		ip = client.Unmap().String()
	}
	if len(o.Metadata) > 0 {
		p.metadata = make(map[string]string, len(o.Metadata))
		r := strings.NewReplacer("{user}", user, "{client_ip}", ip)
		for k, v := range o.Metadata {
			p.metadata[k] = headerValue(r.Replace(v))
		}
	}
	return p
}

// headerValue makes v safe for an x-amz-meta header: printable ASCII stays,
// anything else is RFC 2047-encoded as S3 itself does when it returns
// non-ASCII metadata ("=?utf-8?q?J=C3=BCrgen?=").
func headerValue(v string) string {
	if !utf8.ValidString(v) {
		v = strings.ToValidUTF8(v, "\uFFFD")
	}
	for _, c := range []byte(v) {
		if c < 0x20 || c > 0x7e {
			return mime.QEncoding.Encode("utf-8", v)
		}
	}
	return v
}

// withMeta returns a copy of the session metadata plus extra.
func (p *objectProps) withMeta(extra map[string]string) map[string]string {
	if len(p.metadata)+len(extra) == 0 {
		return nil
	}
	m := maps.Clone(p.metadata)
	if m == nil {
		m = map[string]string{}
	}
	maps.Copy(m, extra)
	return m
}

// contentTypeFor is the Content-Type of a file name; "" lets the store
// apply its default. Temporary upload names of common clients —
// "x.pdf.filepart" (FileZilla, WinSCP), "x.pdf.part", "x.pdf.tmp", proftpd
// HiddenStores ".in.x.pdf." — get the type of the name they will be
// renamed to.
func contentTypeFor(name string) string {
	tempSuffixes := []string{".filepart", ".part", ".tmp", ".partial", ".crdownload"}
	base := path.Base(name)
	if strings.HasPrefix(base, ".in.") && strings.HasSuffix(base, ".") && len(base) > len(".in..") {
		base = strings.TrimSuffix(strings.TrimPrefix(base, ".in."), ".")
	}
	lower := strings.ToLower(base)
	for _, s := range tempSuffixes {
		if strings.HasSuffix(lower, s) && len(base) > len(s) {
			base = base[:len(base)-len(s)]
			break
		}
	}
	return mimetypes.TypeByExtension(path.Ext(base))
}

// applyPut sets the object headers of a PutObject.
func (p *objectProps) applyPut(in *s3.PutObjectInput, contentType string, extra map[string]string) {
	if contentType != "" {
		in.ContentType = aws.String(contentType)
	}
	in.ACL, in.ServerSideEncryption, in.StorageClass = p.acl, p.sse, p.storageClass
	in.SSEKMSKeyId = optString(p.kmsKeyID)
	in.Tagging = optString(p.tagging)
	in.Metadata = p.withMeta(extra)
}

// applyCreate sets the object headers of a CreateMultipartUpload.
func (p *objectProps) applyCreate(in *s3.CreateMultipartUploadInput, contentType string, extra map[string]string) {
	if contentType != "" {
		in.ContentType = aws.String(contentType)
	}
	in.ACL, in.ServerSideEncryption, in.StorageClass = p.acl, p.sse, p.storageClass
	in.SSEKMSKeyId = optString(p.kmsKeyID)
	in.Tagging = optString(p.tagging)
	in.Metadata = p.withMeta(extra)
}

// optString is nil for "".
func optString(s string) *string {
	if s == "" {
		return nil
	}
	return aws.String(s)
}
