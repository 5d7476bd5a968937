package s3fs

import (
	"sync"
	"testing"
	"time"
)

// Options.Partial hears of each partial kept and each resume of one
// (s3ftpd_partial_uploads_total).
func TestPartialEvents(t *testing.T) {
	var mu sync.Mutex
	events := map[string]int{}
	e := newEnv(t, Options{PartSize: MinPartSize, ResumeWindow: time.Hour, Partial: func(ev string) {
		mu.Lock()
		events[ev]++
		mu.Unlock()
	}})
	e.interrupt("/f", 4, 0, 3000)
	e.interrupt("/f", 4, 3000, 6000)
	e.finish("/f", 4, 6000, 9000)
	mu.Lock()
	defer mu.Unlock()
	if events["kept"] != 2 || events["resumed"] != 2 {
		t.Errorf("events %v, want 2 kept and 2 resumed", events)
	}
}
