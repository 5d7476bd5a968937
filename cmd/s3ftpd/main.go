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
	"path/filepath"
	"strings"
	"syscall"

	"golang.org/x/term"

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
			return hashPassword(*algo, stdin, stdout, stderr)
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
	var cfg config.Config
	if *cfgPath != "" {
		// Absolute now: SIGHUP reads it again after the embedded store
		// changed the working directory.
		abs, err := filepath.Abs(*cfgPath)
		if err != nil {
			return err
		}
		*cfgPath = abs
		if cfg, err = config.Load(*cfgPath); err != nil {
			return fmt.Errorf("invalid config %s:\n%w", *cfgPath, err)
		}
	} else {
		// No file: the zero-setup default, with the S3FTPD_… overrides.
		var err error
		if cfg, err = config.ParseWith(nil, config.ParseOptions{Env: os.LookupEnv}); err != nil {
			return fmt.Errorf("invalid configuration from the environment:\n%w", err)
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	// SIGHUP never ends the process (its default action; logrotate and
	// `systemctl reload` send it): serve logs it and reloads what it can.
	signal.Ignore(syscall.SIGHUP)
	return serve(ctx, cfg, *cfgPath, stdout, stderr)
}

// hashPassword prints the hash (bcrypt or argon2id) of a password: typed
// twice without echo when stdin is a terminal, else the first line of
// stdin (a pipe, a file).
func hashPassword(algo string, stdin io.Reader, stdout, stderr io.Writer) error {
	var pw string
	if f, ok := stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		var err error
		if pw, err = promptPassword(int(f.Fd()), stderr); err != nil {
			return err
		}
	} else {
		line, err := bufio.NewReader(stdin).ReadString('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return err
		}
		pw = strings.TrimRight(line, "\r\n")
	}
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

// promptPassword reads a password twice from the terminal fd without
// echoing it.
func promptPassword(fd int, prompt io.Writer) (string, error) {
	read := func(label string) (string, error) {
		fmt.Fprint(prompt, label)
		b, err := term.ReadPassword(fd)
		fmt.Fprintln(prompt)
		return string(b), err
	}
	pw, err := read("Password: ")
	if err != nil {
		return "", err
	}
	again, err := read("Again: ")
	if err != nil {
		return "", err
	}
	if pw != again {
		return "", errors.New("hash-password: the two passwords differ")
	}
	return pw, nil
}
