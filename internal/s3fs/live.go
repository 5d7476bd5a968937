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
//
// With Peers (a cluster), each multipart upload id that comes into use or
// goes out of it is recorded there too, outside the lock.
type liveUploads struct {
	mu    sync.Mutex
	byKey map[string]map[*upload]struct{}
	ids   map[string]int    // multipart upload ids in use
	keys  map[string]string // their keys, for peers
	peers Peers
}

func newLiveUploads(peers Peers) *liveUploads {
	return &liveUploads{byKey: map[string]map[*upload]struct{}{}, ids: map[string]int{}, keys: map[string]string{}, peers: peers}
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
	if set := l.byKey[u.key]; set != nil {
		delete(set, u)
		if len(set) == 0 {
			delete(l.byKey, u.key)
		}
	}
	l.mu.Unlock()
	if id != "" {
		l.removeID(id)
	}
}

// addID marks multipart upload id (of key; "" for a copy's, which is not
// resumable) in use.
func (l *liveUploads) addID(key, id string) {
	l.mu.Lock()
	l.ids[id]++
	first := l.ids[id] == 1 && key != ""
	if first {
		l.keys[id] = key
	}
	l.mu.Unlock()
	if first && l.peers != nil {
		l.peers.UploadStarted(key, id)
	}
}

func (l *liveUploads) removeID(id string) {
	l.mu.Lock()
	l.ids[id]--
	key, last := l.keys[id], l.ids[id] <= 0
	if last {
		delete(l.ids, id)
		delete(l.keys, id)
	}
	l.mu.Unlock()
	if last && key != "" && l.peers != nil {
		l.peers.UploadEnded(key, id)
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
