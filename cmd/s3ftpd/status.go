package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/s3ftpd/s3ftpd/internal/cluster"
	"github.com/s3ftpd/s3ftpd/internal/config"
)

// clusterStatus is `s3ftpd cluster status --config FILE`: the members of
// the cluster the config joins, with their sessions and pending passive
// claims, read from Redis.
func clusterStatus(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "status" {
		return errors.New("usage: s3ftpd cluster status --config FILE")
	}
	fl := flag.NewFlagSet("s3ftpd cluster status", flag.ContinueOnError)
	fl.SetOutput(stderr)
	cfgPath := fl.String("config", "", "the YAML config file of a node")
	if err := fl.Parse(args[1:]); err != nil {
		return err
	}
	if *cfgPath == "" {
		return errors.New("cluster status: --config FILE is required")
	}
	cfg, err := config.Load(*cfgPath)
	if err != nil {
		return fmt.Errorf("invalid config %s:\n%w", *cfgPath, err)
	}
	if !cfg.Cluster.Enabled() {
		return fmt.Errorf("%s has no cluster: section", *cfgPath)
	}
	rdb := newRedis(cfg.Cluster.Redis)
	defer rdb.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	members, err := cluster.Status(ctx, rdb, cfg.Cluster.Redis.Prefix)
	if err != nil {
		return fmt.Errorf("cluster status: Redis %v: %w", cfg.Cluster.Redis.Addrs, err)
	}
	w := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "NODE\tSTATE\tRELAY\tSESSIONS\tPENDING PASV\tUP SINCE\tLAST SEEN\tVERSION\tINSTANCE")
	for _, m := range members {
		state := "live"
		if !m.Live {
			state = "LOST"
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%d\t%d\t%s\t%s ago\t%s\t%s\n", m.Node, state, m.Relay, m.Sessions, m.Claims,
			m.Started.UTC().Format(time.RFC3339), time.Since(m.Seen).Round(time.Second), m.Version, m.Instance)
	}
	if len(members) == 0 {
		fmt.Fprintln(w, "(no nodes)")
	}
	return w.Flush()
}
