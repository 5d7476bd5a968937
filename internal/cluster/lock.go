package cluster

import (
	"context"
	"time"

	"github.com/redis/go-redis/v9"
)

// Compare-and-delete and compare-and-extend: a key is only released or
// renewed by the one who set it (its value is the holder's token).
var (
	delIfEqual    = redis.NewScript(`if redis.call("GET", KEYS[1]) == ARGV[1] then return redis.call("DEL", KEYS[1]) end return 0`)
	extendIfEqual = redis.NewScript(`if redis.call("GET", KEYS[1]) == ARGV[1] then return redis.call("PEXPIRE", KEYS[1], ARGV[2]) end return 0`)
)

// TryLock takes the cluster-wide lock name for ttl unless another node
// holds it (ok false). While held it is renewed every ttl/3; unlock
// releases it. A holder that dies loses it after ttl.
func (n *Node) TryLock(ctx context.Context, name string, ttl time.Duration) (unlock func(), ok bool, err error) {
	key, token := n.key("lock", name), n.instance+"/"+randomHex(8)
	rctx, cancel := n.rctx(ctx)
	ok, err = n.o.Redis.SetNX(rctx, key, token, ttl).Result()
	cancel()
	if err != nil {
		n.redisFailed("lock", err)
		return nil, false, err
	}
	if !ok {
		return nil, false, nil
	}
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(ttl / 3)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				rctx, cancel := n.rctx(context.Background())
				extendIfEqual.Run(rctx, n.o.Redis, []string{key}, token, ttl.Milliseconds())
				cancel()
			}
		}
	}()
	return func() {
		close(stop)
		<-done
		rctx, cancel := n.rctx(context.Background())
		defer cancel()
		delIfEqual.Run(rctx, n.o.Redis, []string{key}, token)
	}, true, nil
}
