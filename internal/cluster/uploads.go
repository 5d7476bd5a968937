package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"time"
)

// Open multipart uploads: each node keeps the set uploads:<instance> of
// the uploads it has open ([key, upload id] as JSON). When a node is lost
// another one makes each of them resumable at once, or completes it if the
// lost node was committing it (AdoptUploads, s3fs.Store.Adopt), and the
// janitor leaves the uploads of live nodes alone (OthersRunning). The
// recording costs two Redis round trips per multipart upload (files of
// at least one part), none for small files.

// UploadStarted records one of this node's multipart uploads.
func (n *Node) UploadStarted(key, id string) { n.recordUpload(key, id, true) }

// UploadEnded forgets it (completed, aborted or kept as a partial).
func (n *Node) UploadEnded(key, id string) { n.recordUpload(key, id, false) }

func (n *Node) recordUpload(key, id string, add bool) {
	member, _ := json.Marshal([2]string{key, id})
	ctx, cancel := n.rctx(context.Background())
	defer cancel()
	var err error
	if add {
		err = n.o.Redis.SAdd(ctx, n.key("uploads", n.instance), member).Err()
	} else {
		err = n.o.Redis.SRem(ctx, n.key("uploads", n.instance), member).Err()
	}
	if err != nil {
		// Without the record a lost node's upload is made resumable by the
		// next sweep instead of at once.
		n.redisFailed("record upload", err)
	}
}

// OthersRunning returns the upload IDs the other live nodes have open.
func (n *Node) OthersRunning(ctx context.Context) (map[string]bool, error) {
	ctx, cancel := n.rctx(ctx)
	defer cancel()
	if _, err := n.refreshMembers(ctx); err != nil {
		return nil, err
	}
	n.members.mu.Lock()
	var live []string
	for inst := range n.members.live {
		if inst != n.instance {
			live = append(live, inst)
		}
	}
	n.members.mu.Unlock()
	ids := map[string]bool{}
	for _, inst := range live {
		ups, err := n.uploadsOf(ctx, inst)
		if err != nil {
			return nil, err
		}
		for _, u := range ups {
			ids[u[1]] = true
		}
	}
	return ids, nil
}

func (n *Node) uploadsOf(ctx context.Context, instance string) ([][2]string, error) {
	members, err := n.o.Redis.SMembers(ctx, n.key("uploads", instance)).Result()
	if err != nil {
		return nil, err
	}
	out := make([][2]string, 0, len(members))
	for _, m := range members {
		var u [2]string
		if json.Unmarshal([]byte(m), &u) == nil {
			out = append(out, u)
		}
	}
	return out, nil
}

// AdoptUploads runs adopt for every upload the lost instance had open,
// then forgets its record. It is what OnNodeLost should do.
func (n *Node) AdoptUploads(ctx context.Context, instance string, adopt func(ctx context.Context, key, id string) error) error {
	ups, err := n.uploadsOf(ctx, instance)
	if err != nil {
		return err
	}
	var errs []error
	for _, u := range ups {
		if err := adopt(ctx, u[0], u[1]); err != nil {
			errs = append(errs, err)
			continue
		}
		n.log.Info("upload of a lost node made resumable", "lost", instance, "key", u[0])
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	return n.o.Redis.Del(ctx, n.key("uploads", instance)).Err()
}

// janitorLockTTL is the janitor lock's lifetime; it is renewed while a
// sweep runs, so a holder that dies frees it within this.
const janitorLockTTL = 2 * time.Minute

// SweepLock implements the janitor's one-at-a-time lock.
func (n *Node) SweepLock(ctx context.Context) (func(), bool) {
	unlock, ok, err := n.TryLock(ctx, "janitor", janitorLockTTL)
	if err != nil || !ok {
		return nil, false
	}
	return unlock, true
}
