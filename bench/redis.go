package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// redisServer is the cluster's registry: a redis-server process (the
// Debian package) on a loopback port, stopped by its PID like every other
// process of the run.
type redisServer struct {
	proc   *proc
	addr   string
	client *redis.Client // the harness's own connection, for INFO
}

// startRedis runs bin without persistence on a free loopback port and
// waits until it answers PING.
func (h *harness) startRedis(ctx context.Context, bin string) (*redisServer, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(h.work, "redis")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	p, err := h.procs.start("redis-server", nil, bin, "--port", strconv.Itoa(port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", dir)
	if err != nil {
		return nil, err
	}
	rs := &redisServer{proc: p, addr: addr, client: redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1})}
	deadline := time.Now().Add(20 * time.Second)
	for {
		pctx, cancel := context.WithTimeout(ctx, time.Second)
		err = rs.client.Ping(pctx).Err()
		cancel()
		switch {
		case err == nil:
			return rs, nil
		case !p.running():
			rs.stop()
			return nil, fmt.Errorf("redis-server exited: %v\n%s", p.waitErr, p.tail(10))
		case time.Now().After(deadline) || ctx.Err() != nil:
			rs.stop()
			return nil, fmt.Errorf("redis-server on %s does not answer PING: %v", addr, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (rs *redisServer) stop() {
	rs.client.Close()
	_ = rs.proc.stop()
}

// commandCalls is INFO commandstats: calls per command. Redis counts the
// commands a Lua script runs as well as the EVALSHA that ran it.
type commandCalls map[string]int64

func (rs *redisServer) commandStats(ctx context.Context) (commandCalls, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	text, err := rs.client.Info(ctx, "commandstats").Result()
	if err != nil {
		return nil, err
	}
	return parseCommandStats(text), nil
}

// parseCommandStats reads lines such as
//
//	cmdstat_set:calls=12,usec=80,usec_per_call=6.67,rejected_calls=0,failed_calls=0
func parseCommandStats(text string) commandCalls {
	out := commandCalls{}
	for _, line := range strings.Split(text, "\n") {
		name, rest, ok := strings.Cut(strings.TrimSpace(line), ":")
		if !ok || !strings.HasPrefix(name, "cmdstat_") {
			continue
		}
		for _, kv := range strings.Split(rest, ",") {
			if v, ok := strings.CutPrefix(kv, "calls="); ok {
				if n, err := strconv.ParseInt(v, 10, 64); err == nil {
					out[strings.TrimPrefix(name, "cmdstat_")] = n
				}
			}
		}
	}
	return out
}

// minus is the calls made between an earlier snapshot and c, without the
// harness's own INFO.
func (c commandCalls) minus(earlier commandCalls) commandCalls {
	out := commandCalls{}
	for k, v := range c {
		if d := v - earlier[k]; d != 0 && k != "info" {
			out[k] = d
		}
	}
	return out
}
