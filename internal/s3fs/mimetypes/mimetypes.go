// Package mimetypes maps file extensions to media types with a table
// generated from jshttp/mime-db (IANA, Apache and nginx types merged and
// curated; MIT, see LICENSE.mime-db), resolved as jshttp/mime-types does.
//
// Why not the standard library: mime.TypeByExtension knows about a dozen
// types built in and reads the rest from system files (/etc/mime.types,
// /usr/share/mime/globs2…) that a container image usually lacks, so the
// Content-Type of an object would depend on the machine that stored it.
// The Go MIME table modules (shogo82148/go-mimedb, cubewise-code/go-mime)
// are not available from the module proxy used here, and content sniffers
// (gabriel-vasile/mimetype) need the bytes, which an upload only has after
// its first part is gone. gen.go regenerates table.go from a new mime-db.
package mimetypes

import "strings"

// TypeByExtension returns the media type of ext (".pdf", case-insensitive),
// or "" when it is unknown. text/* types get "; charset=utf-8", as the
// standard library's mime package gives them.
func TypeByExtension(ext string) string {
	ext = strings.ToLower(strings.TrimPrefix(ext, "."))
	t := lookup(ext)
	if strings.HasPrefix(t, "text/") {
		t += "; charset=utf-8"
	}
	return t
}
