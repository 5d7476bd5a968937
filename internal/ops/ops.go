// Package ops serves the HTTP endpoints a load balancer and an operator
// need: /healthz (the process is alive) and /readyz (it should get new
// sessions: the store answers and no drain has begun).
package ops

import (
	"context"
	"net/http"
	"sync/atomic"
	"time"
)

// Health answers /healthz and /readyz.
type Health struct {
	// Ready checks the dependencies (the store); nil means always ready.
	Ready func(ctx context.Context) error
	// Degraded, if set, names a dependency that is down without making the
	// node unready (the cluster registry); "" when all is well. It is
	// shown in /readyz's body, which stays 200.
	Degraded func() string
	draining atomic.Bool
}

// Drain makes /readyz fail from now on, so the LB sends no new sessions.
func (h *Health) Drain() { h.draining.Store(true) }

// Draining reports whether Drain was called.
func (h *Health) Draining() bool { return h.draining.Load() }

// Handler serves /healthz and /readyz.
func (h *Health) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if h.draining.Load() {
			http.Error(w, "draining", http.StatusServiceUnavailable)
			return
		}
		if h.Ready != nil {
			ctx, cancel := context.WithTimeout(r.Context(), 3*time.Second)
			defer cancel()
			if err := h.Ready(ctx); err != nil {
				// The reason stays in our logs; the LB needs only the code.
				http.Error(w, "store unavailable", http.StatusServiceUnavailable)
				return
			}
		}
		if h.Degraded != nil {
			if d := h.Degraded(); d != "" {
				w.Write([]byte("ready, degraded: " + d + "\n"))
				return
			}
		}
		w.Write([]byte("ready\n"))
	})
	return mux
}
