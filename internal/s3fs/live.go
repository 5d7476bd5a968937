package s3fs

import (
	"context"
	"sync"
)

// liveUploads are the uploads of this process that are still open or
// closing. Partials and the janitor leave their multipart uploads alone,
// and PartialSize waits for a closing upload of the same name, so that a
// client that reconnects right after a broken transfer sees the partial
// that transfer is leaving.
type liveUploads struct {
	mu    sync.Mutex
	byKey map[string]map[*upload]struct{}
	ids   map[string]int // multipart upload ids in use
}

func newLiveUploads() *liveUploads {
	return &liveUploads{byKey: map[string]map[*upload]struct{}{}, ids: map[string]int{}}
}

func (l *liveUploads) add(u *upload) {
	l.mu.Lock()
	defer l.mu.Unlock()
	set := l.byKey[u.key]
	if set == nil {
		set = map[*upload]struct{}{}
		l.byKey[u.key] = set
	}
	set[u] = struct{}{}
}

// remove forgets u and the multipart upload id it used ("" for none).
func (l *liveUploads) remove(u *upload, id string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if set := l.byKey[u.key]; set != nil {
		delete(set, u)
		if len(set) == 0 {
			delete(l.byKey, u.key)
		}
	}
	if id != "" {
		if l.ids[id]--; l.ids[id] <= 0 {
			delete(l.ids, id)
		}
	}
}

func (l *liveUploads) addID(id string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.ids[id]++
}

func (l *liveUploads) removeID(id string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.ids[id]--; l.ids[id] <= 0 {
		delete(l.ids, id)
	}
}

func (l *liveUploads) hasID(id string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.ids[id] > 0
}

// waitClosing waits until the uploads of key that are being aborted have
// finished (or ctx ends).
func (l *liveUploads) waitClosing(ctx context.Context, key string) error {
	l.mu.Lock()
	var waits []chan struct{}
	for u := range l.byKey[key] {
		if u.closing.Load() {
			waits = append(waits, u.done)
		}
	}
	l.mu.Unlock()
	for _, w := range waits {
		select {
		case <-w:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}
