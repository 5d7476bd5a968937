// Command s3ftpd is an FTP server that stores files in S3.
//
//	s3ftpd                      embedded S3-compatible store, demo/demo on 127.0.0.1:2121
//	s3ftpd --config FILE        as configured (see README)
//	s3ftpd hash-password        read a password on stdin, print its bcrypt hash
//	s3ftpd cluster status --config FILE   the cluster's nodes, sessions, pending PASVs
//	s3ftpd check-config --config FILE     validate a config and exit
//	s3ftpd version | help
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/s3ftpd/s3ftpd/internal/auth"
	"github.com/s3ftpd/s3ftpd/internal/config"
)

func main() {
	if err := run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "s3ftpd:", err)
		os.Exit(1)
	}
}

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) > 0 {
		switch args[0] {
		case "hash-password":
			fl := flag.NewFlagSet("s3ftpd hash-password", flag.ContinueOnError)
			fl.SetOutput(stderr)
			algo := fl.String("algo", "bcrypt", "bcrypt or argon2id")
			if err := fl.Parse(args[1:]); err != nil {
				return err
			}
			return hashPassword(*algo, stdin, stdout)
		case "cluster":
			return clusterStatus(args[1:], stdout, stderr)
		case "check-config":
			return checkConfig(args[1:], stdout, stderr)
		case "version", "--version", "-version":
			_, err := io.WriteString(stdout, versionText())
			return err
		case "help", "--help", "-help", "-h":
			_, err := io.WriteString(stdout, usage)
			return err
		}
	}
	fl := flag.NewFlagSet("s3ftpd", flag.ContinueOnError)
	fl.SetOutput(stderr)
	fl.Usage = func() { io.WriteString(stderr, usage) }
	cfgPath := fl.String("config", "", "YAML config file (default: embedded store, user demo/demo)")
	if err := fl.Parse(args); err != nil {
		return err
	}
	if fl.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q (see s3ftpd help)", fl.Arg(0))
	}
	cfg := config.Default()
	if *cfgPath != "" {
		var err error
		if cfg, err = config.Load(*cfgPath); err != nil {
			return fmt.Errorf("invalid config %s:\n%w", *cfgPath, err)
		}
	} else if err := cfg.Validate(); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	// SIGHUP never ends the process (its default action; logrotate and
	// `systemctl reload` send it): serve logs it and reloads what it can.
	signal.Ignore(syscall.SIGHUP)
	return serve(ctx, cfg, stdout, stderr)
}

// hashPassword prints the hash (bcrypt or argon2id) of the first line of
// stdin.
func hashPassword(algo string, stdin io.Reader, stdout io.Writer) error {
	line, err := bufio.NewReader(stdin).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	pw := strings.TrimRight(line, "\r\n")
	if pw == "" {
		return errors.New("hash-password: give the password on stdin, e.g. `echo -n secret | s3ftpd hash-password`")
	}
	h, err := auth.HashPassword(algo, pw)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(stdout, h)
	return err
}
