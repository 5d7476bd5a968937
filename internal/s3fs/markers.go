package s3fs

import (
	"strings"
	"sync"
)

// markerIndex knows which partial markers (partial.go) may exist, so that
// SIZE, DELE and the other lookups of a name that has no partial — nearly
// every one — spend no request on its marker.
//
// It is built by the janitor: a sweep that lists every marker from the
// first to the last (sweepMarkers, at the process start and then every
// sweepInterval) installs what it saw, plus what this process wrote
// meanwhile. Between sweeps this process's own puts and deletes keep it
// exact. It errs one way only: a name it lists may have no marker any
// more (a HEAD is spent), but a marker it does not list does not exist —
// as long as no other process writes markers. So:
//
//   - until the first complete sweep (or when one stops early: over
//     sweepLimit markers, a listing error) every lookup asks S3, as
//     without an index;
//   - with Peers (a cluster), other nodes write markers for uploads
//     interrupted there, so every lookup asks S3 — in parallel with the
//     object's HEAD, so it costs a request but no round trip.
type markerIndex struct {
	mu    sync.Mutex
	off   bool            // never trust the index (Peers)
	ready bool            // known is complete
	known map[string]bool // markers that may exist
	next  map[string]bool // what the sweep in progress has seen; nil: none
}

// mayExist reports whether marker mk may exist (false: it does not).
func (x *markerIndex) mayExist(mk string) bool {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.off || !x.ready || x.known[mk]
}

// add notes a marker being written (before the request: one whose answer
// is lost may exist).
func (x *markerIndex) add(mk string) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.known != nil {
		x.known[mk] = true
	}
	if x.next != nil {
		x.next[mk] = true
	}
}

// remove notes a marker deleted (after S3 said so).
func (x *markerIndex) remove(mk string) {
	x.mu.Lock()
	defer x.mu.Unlock()
	delete(x.known, mk)
	delete(x.next, mk)
}

// begin starts collecting a sweep's markers from the first one.
func (x *markerIndex) begin() {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.next = map[string]bool{}
}

// saw notes a marker the sweep listed.
func (x *markerIndex) saw(mk string) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.next != nil {
		x.next[mk] = true
	}
}

// finish ends a sweep's collection; complete: it listed every marker, so
// what it saw becomes the index.
func (x *markerIndex) finish(complete bool) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if complete && x.next != nil {
		x.known, x.ready = x.next, true
	}
	x.next = nil
}

// isMarker reports whether key is a partial marker of the store.
func (s *Store) isMarker(key string) bool {
	rest, ok := strings.CutPrefix(key, s.partialRoot+"/")
	return ok && rest != "" && !strings.Contains(rest, "/")
}
