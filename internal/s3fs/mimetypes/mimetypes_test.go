package mimetypes

import "testing"

// Common types resolve without any system mime.types file.
func TestCommonTypes(t *testing.T) {
	for ext, want := range map[string]string{
		".txt": "text/plain; charset=utf-8", ".html": "text/html; charset=utf-8", ".HTM": "text/html; charset=utf-8",
		".css": "text/css; charset=utf-8", ".csv": "text/csv; charset=utf-8", ".js": "text/javascript; charset=utf-8",
		".json": "application/json", ".xml": "application/xml", ".pdf": "application/pdf",
		".png": "image/png", ".jpg": "image/jpeg", ".JPEG": "image/jpeg", ".gif": "image/gif", ".svg": "image/svg+xml",
		".webp": "image/webp", ".zip": "application/zip", ".gz": "application/gzip", ".tar": "application/x-tar",
		".mp4": "video/mp4", ".mp3": "audio/mpeg", ".wasm": "application/wasm", ".woff2": "font/woff2",
		".docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
		".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
		".7z":   "application/x-7z-compressed", ".rtf": "application/rtf",
		"": "", ".": "", ".no-such-ext": "", "pdf": "application/pdf",
	} {
		if got := TypeByExtension(ext); got != want {
			t.Errorf("TypeByExtension(%q) = %q, want %q", ext, got, want)
		}
	}
}
