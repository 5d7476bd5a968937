package config

import (
	"reflect"
	"testing"
	"time"
)

func TestStorageDefaults(t *testing.T) {
	c := Default()
	if !c.Uploads.Atomic || c.Uploads.ResumeWindow != 24*time.Hour || c.Uploads.MFMTMaxSize != 256*MiB {
		t.Fatalf("uploads defaults: %+v", c.Uploads)
	}
	if !reflect.DeepEqual(c.Store.S3.Object, ObjectProps{}) {
		t.Fatalf("object defaults: %+v", c.Store.S3.Object)
	}
}

func TestStorageKeys(t *testing.T) {
	c := mustParse(t, `
uploads:
  atomic: false
  resume_window: 2h
  mfmt_max_size: 1GiB
store:
  s3:
    object:
      acl: bucket-owner-full-control
      sse: aws:kms
      kms_key_id: alias/ftp
      storage_class: STANDARD_IA
      tagging: {team: ftp, "cost center": "42"}
      metadata:
        uploaded-by: "{user}"
        client-ip: "{client_ip}"
users:
  - name: alice
    password: pw
    object:
      storage_class: GLACIER_IR
      tagging: {team: sales}
`)
	if c.Uploads.Atomic || c.Uploads.ResumeWindow != 2*time.Hour || c.Uploads.MFMTMaxSize != GiB {
		t.Errorf("uploads: %+v", c.Uploads)
	}
	want := ObjectProps{
		ACL: "bucket-owner-full-control", SSE: "aws:kms", KMSKeyID: "alias/ftp", StorageClass: "STANDARD_IA",
		Tagging:  map[string]string{"team": "ftp", "cost center": "42"},
		Metadata: map[string]string{"uploaded-by": "{user}", "client-ip": "{client_ip}"},
	}
	if !reflect.DeepEqual(c.Store.S3.Object, want) {
		t.Errorf("store.s3.object = %+v\nwant %+v", c.Store.S3.Object, want)
	}
	if u := c.Users[0].Object; u.StorageClass != "GLACIER_IR" || u.Tagging["team"] != "sales" || u.ACL != "" {
		t.Errorf("users[0].object = %+v", u)
	}
}

func TestStorageMistakes(t *testing.T) {
	_, err := Parse([]byte(`
uploads:
  resume_window: -1h
store:
  s3:
    object:
      acl: world-writable
      sse: rot13
      kms_key_id: k
      storage_class: cold
      tagging: {"aws:x": y, "bad!": v}
      metadata: {"s3ftpd-mtime": x, "bad key": y, who: "{name}", Who: z}
users:
  - name: a
    password: pw
    object:
      tagging: "not a map"
`))
	errs := fieldErrors(t, err)
	for _, w := range []struct{ field, sub string }{
		{"uploads.resume_window", "negative"},
		{"store.s3.object.acl", "bucket-owner-full-control"},
		{"store.s3.object.sse", "AES256"},
		{"store.s3.object.kms_key_id", "aws:kms"},
		{"store.s3.object.storage_class", "STANDARD_IA"},
		{"store.s3.object.tagging.aws:x", "reserved"},
		{"store.s3.object.tagging.bad!", "tag key"},
		{"store.s3.object.metadata.s3ftpd-mtime", "reserved"},
		{"store.s3.object.metadata.bad key", "letters"},
		{"store.s3.object.metadata.who", "{name}"},
		{"store.s3.object.metadata.who", "lower-cased"},
		{"users[0].object.tagging", "mapping"},
	} {
		if e := wantField(t, errs, w.field, w.sub); e != nil && e.Line == 0 {
			t.Errorf("%s: no line number", w.field)
		}
	}
}
