package main

import (
	"context"
	"log/slog"
	"os"
	"os/signal"
	"sync"
	"syscall"

	"github.com/s3ftpd/s3ftpd/internal/ops"
)

// reloads is what SIGHUP does: each registered action in turn (the TLS
// certificate, the transfer log for logrotate). SIGHUP never stops the
// process; with nothing registered it is only logged.
type reloads struct {
	log *slog.Logger
	// notify tells systemd RELOADING=1 then READY=1 (nil: not under
	// systemd).
	notify  *ops.Notifier
	mu      sync.Mutex
	actions []reloadAction
}

type reloadAction struct {
	name string
	do   func() error
}

// add registers an action (nil r: ignored, for tests).
func (r *reloads) add(name string, do func() error) {
	if r == nil {
		return
	}
	r.mu.Lock()
	r.actions = append(r.actions, reloadAction{name, do})
	r.mu.Unlock()
}

// run does the actions on each SIGHUP until ctx ends.
func (r *reloads) run(ctx context.Context) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	go func() {
		defer signal.Stop(hup)
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				r.reload()
			}
		}
	}()
}

func (r *reloads) reload() {
	r.mu.Lock()
	actions := r.actions
	r.mu.Unlock()
	_ = r.notify.Reloading()
	defer func() { _ = r.notify.Ready("serving; reloaded on SIGHUP") }()
	if len(actions) == 0 {
		r.log.Info("SIGHUP: nothing to reload (started without --config)")
	}
	for _, a := range actions {
		if err := a.do(); err != nil {
			r.log.Error("SIGHUP: reload failed; keeping the current one", "what", a.name, "err", err)
			continue
		}
		r.log.Info("SIGHUP: reloaded", "what", a.name)
	}
}
