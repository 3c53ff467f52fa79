// Command middleware is a tiny web service protected in-process by a
// phalanx member's bans, through package phalanx/middleware: clients the
// member has banned get 403 Forbidden, everyone else gets a greeting. It
// is an example to copy from, not a tool to deploy; it must not grow
// features of its own.
//
// Run a member (its API listens on 127.0.0.1:8080 by default), give the
// service a bouncer key, and start the service:
//
//	phalanx run &
//	phalanx bouncers add hello-service        # prints the key once
//	go run ./examples/middleware -key KEY     # -listen 127.0.0.1:8081 -phalanx http://127.0.0.1:8080
//	curl -i http://127.0.0.1:8081/            # 200 Hello
//
// A member never bans loopback (it is territory), so to see a refusal
// from one machine, let the service believe X-Forwarded-For from loopback
// and claim a banned address:
//
//	go run ./examples/middleware -key KEY -trust 127.0.0.1/32
//	phalanx decisions add --ip 203.0.113.7 --duration 1h
//	curl -i -H 'X-Forwarded-For: 203.0.113.7' http://127.0.0.1:8081/   # 403 within a second
//	phalanx decisions delete --ip 203.0.113.7                          # 200 again
//
// Behind a real reverse proxy, -trust takes the proxy's addresses, so that
// the client's address is read from X-Forwarded-For. The service waits up
// to -wait for the first pull of the bans before it serves; past that it
// serves unprotected until the member answers, and says so in its log.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"phalanx/middleware"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "middleware example:", err)
		os.Exit(1)
	}
}

func run() error {
	listen := flag.String("listen", "127.0.0.1:8081", "address the service listens on")
	phalanxURL := flag.String("phalanx", "http://127.0.0.1:8080", "a phalanx member's API URL")
	key := flag.String("key", "", "bouncer API key, from `phalanx bouncers add NAME` (required)")
	trust := flag.String("trust", "", "comma-separated proxies whose X-Forwarded-For is believed, such as 127.0.0.1/32")
	wait := flag.Duration("wait", 10*time.Second, "how long to wait for the first pull before serving")
	flag.Parse()
	if *key == "" {
		return errors.New("no -key: create one with `phalanx bouncers add NAME` and pass it with -key")
	}
	var trusted []netip.Prefix
	for s := range strings.SplitSeq(*trust, ",") {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return fmt.Errorf("-trust: %w (give ranges such as 127.0.0.1/32)", err)
		}
		trusted = append(trusted, p)
	}

	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	guard, err := middleware.New(middleware.Config{URL: *phalanxURL, APIKey: *key, TrustedProxies: trusted, Logger: log})
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go guard.Run(ctx)

	select {
	case <-guard.Ready():
		s := guard.Stats()
		log.Info("bans loaded", "addresses", s.Addresses, "ranges", s.Ranges)
	case <-time.After(*wait):
		log.Warn("no bans from phalanx yet: serving unprotected until the member answers", "phalanx", *phalanxURL)
	case <-ctx.Done():
		return nil
	}

	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "hello from a service phalanx protects")
	})
	srv := &http.Server{Addr: *listen, Handler: guard.Handler(mux), ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdown)
	}()
	log.Info("serving", "listen", *listen)
	if err := srv.ListenAndServe(); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
