package s3fs

import (
	"context"
	"strings"
	"sync"
)

// buckets are the other buckets users' homes name (home:
// s3://bucket/prefix): each a Store of its own for what is kept per bucket
// (uploads in flight, partial markers and their index, the janitor's
// records and cursor, what the bucket honours of conditional requests), sharing the client,
// the buffer budget and the options. They are made on first use and swept
// by the janitor of the store they came from, under its lock.
type buckets struct {
	mu sync.Mutex
	m  map[string]*Store
}

// bucketKey marks a key of another bucket where one key space is shared
// with the cluster (Peers): "s3://bucket/key". No key of the store's own
// starts so: FTP names have no empty path element.
const bucketKey = "s3://"

// Bucket returns the store for another bucket of the same endpoint and
// credentials, with no key prefix (a home there names its own); "" or the
// store's own bucket without a prefix is s itself.
func (s *Store) Bucket(name string) *Store {
	if name == "" || (name == s.bucket && s.prefix == "") {
		return s
	}
	s.buckets.mu.Lock()
	defer s.buckets.mu.Unlock()
	if b := s.buckets.m[name]; b != nil {
		return b
	}
	b := *s
	b.bucket, b.prefix = name, ""
	b.log = s.baseLog.With("component", "s3fs", "bucket", name)
	if s.peers != nil {
		b.peers = bucketPeers{s.peers, bucketKey + name + "/"}
	}
	b.live = newLiveUploads(b.peers)
	b.intents = &intents{writing: map[string]chan struct{}{}}
	b.cursor = &sweepCursor{}
	b.partialRoot = joinKey("", partialDir)
	b.cond = &condState{}
	b.markers = &markerIndex{off: s.peers != nil}
	s.buckets.m[name] = &b
	return &b
}

// others is the other buckets made so far.
func (s *Store) others() []*Store {
	s.buckets.mu.Lock()
	defer s.buckets.mu.Unlock()
	out := make([]*Store, 0, len(s.buckets.m))
	for _, b := range s.buckets.m {
		out = append(out, b)
	}
	return out
}

// inBucket splits a key the cluster handed back ("s3://bucket/key") into
// the store it belongs to and the key there.
func (s *Store) inBucket(key string) (*Store, string) {
	rest, ok := strings.CutPrefix(key, bucketKey)
	if !ok {
		return s, key
	}
	name, k, _ := strings.Cut(rest, "/")
	return s.Bucket(name), k
}

// bucketPeers names another bucket's keys for the cluster.
type bucketPeers struct {
	Peers
	prefix string
}

func (p bucketPeers) UploadStarted(key, id string) { p.Peers.UploadStarted(p.prefix+key, id) }
func (p bucketPeers) UploadEnded(key, id string)   { p.Peers.UploadEnded(p.prefix+key, id) }

// sweepOthers is the janitor's round over the other buckets (Sweep holds
// the lock).
func (s *Store) sweepOthers(ctx context.Context, others map[string]bool, st *SweepStats) {
	for _, b := range s.others() {
		b.sweepUploads(ctx, others, st)
		b.sweepMarkers(ctx, st)
	}
}
