// Package forwardauth answers reverse proxies' "may this client in?"
// sub-requests (nginx auth_request, Traefik forwardAuth, Caddy forward_auth,
// a HAProxy Lua action) from the decision table, so that a web server on a
// host that runs no phalanx member still turns banned addresses away.
//
// The client address is the connection's peer, or, only when the peer is one
// of the configured trusted proxies, the address that proxy reports in
// X-Real-IP or X-Forwarded-For. The request is denied when any address the
// request could stand for is banned: a header that cannot be read falls back
// to the last address that can be believed (the peer, or the last trusted hop
// of X-Forwarded-For), never to "allowed", and a header from a peer that is
// not trusted is not read at all.
//
// It must not decide anything or change the table: it reads a Checker. It
// does no I/O besides answering the request, no DNS lookups, and keeps no
// package-level state. Headers are hostile: the work they cause is bounded
// (at most 32 trusted hops walked, 64 bytes read an address, whatever the
// header's length), and nothing in them makes it answer 500 or panic.
package forwardauth

import (
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// Defaults of Config, as DefaultConfig sets them.
const (
	DefaultPath         = "/v1/forward-auth"
	DefaultDeniedBody   = "Forbidden\n"
	DefaultDeniedStatus = http.StatusForbidden
)

// maxDeniedBody bounds Config.DeniedBody.
const maxDeniedBody = 64 << 10

// DecisionHeader is the response header that carries the ID of the decision
// that denied a request.
const DecisionHeader = "X-Phalanx-Decision"

// Config is the forward_auth section of the configuration.
type Config struct {
	// Path is where the endpoint is served; default DefaultPath.
	Path string `yaml:"path"`
	// TrustedProxies are the peers whose X-Forwarded-For and X-Real-IP are
	// believed, such as the nginx in front of the site; default none, so
	// the endpoint decides on the connection's address.
	TrustedProxies []netip.Prefix `yaml:"trusted_proxies"`
	// DeniedBody is the body of a denial; default DefaultDeniedBody.
	DeniedBody string `yaml:"denied_body"`
	// DeniedStatus is the status of a denial, 400 to 599; default 403.
	// nginx's auth_request passes 401 and 403 on and turns any other
	// status into a 500.
	DeniedStatus int `yaml:"denied_status"`
}

// DefaultConfig returns the configuration used when the file sets nothing.
func DefaultConfig() Config {
	return Config{Path: DefaultPath, DeniedBody: DefaultDeniedBody, DeniedStatus: DefaultDeniedStatus}
}

// Validate reports the first setting that cannot work, saying how to fix it.
func (c Config) Validate() error {
	if c.Path == "" || c.Path[0] != '/' || strings.ContainsAny(c.Path, "?# \t") {
		return fmt.Errorf("forward_auth.path %q is not an absolute URL path: set it to a path such as %s", c.Path, DefaultPath)
	}
	for _, p := range c.TrustedProxies {
		if !p.IsValid() {
			return errors.New("forward_auth.trusted_proxies holds an empty or invalid prefix: write each as an address or CIDR range, such as 127.0.0.1/32")
		}
		if n, _ := normalizePrefix(p); n.Bits() == 0 {
			return fmt.Errorf("forward_auth.trusted_proxies: %s trusts every address, which lets any client choose the address phalanx checks: list your proxies' addresses instead", p)
		}
	}
	if c.DeniedStatus < 400 || c.DeniedStatus > 599 {
		return fmt.Errorf("forward_auth.denied_status %d is not an error status: use 400 to 599 (403 by default; nginx's auth_request accepts only 401 and 403)", c.DeniedStatus)
	}
	if len(c.DeniedBody) > maxDeniedBody {
		return fmt.Errorf("forward_auth.denied_body is %d bytes: keep it under %d", len(c.DeniedBody), maxDeniedBody)
	}
	return nil
}

// Checker answers whether an address is banned at now, and by which
// decision. *decision.Table implements it.
type Checker interface {
	Check(addr netip.Addr, now time.Time) (id uint64, typ string, ok bool)
}

// Metrics counts the handler's answers. The zero Metrics is ready to use and
// safe for concurrent use; the counters only grow.
type Metrics struct {
	allowed   counter
	denied    counter
	badHeader counter
}

// counter is an atomic counter alone on its cache line, so that cores
// counting different answers do not contend.
type counter struct {
	n atomic.Uint64
	_ [56]byte
}

// Counts is a snapshot of Metrics.
type Counts struct {
	Allowed uint64 // requests answered 200
	Denied  uint64 // requests answered DeniedStatus
	// BadHeader counts requests from a trusted proxy whose X-Forwarded-For
	// or X-Real-IP could not be used as sent (missing, malformed, an IPv6
	// zone, repeated X-Real-IP, too many trusted hops): the request was
	// decided on the last address that could be believed. Headers from
	// peers that are not trusted are ignored and not counted.
	BadHeader uint64
}

// Counts returns the counters' current values.
func (m *Metrics) Counts() Counts {
	return Counts{Allowed: m.allowed.n.Load(), Denied: m.denied.n.Load(), BadHeader: m.badHeader.n.Load()}
}

// Handler serves the forward-auth endpoint. Build it with New.
type Handler struct {
	path         string
	trusted      []netip.Prefix
	deniedBody   []byte
	deniedStatus int
	table        Checker
	now          func() time.Time
	m            *Metrics
}

// New returns a handler that answers from table. now is the clock (time.Now
// when nil); m receives the counts (a private Metrics when nil). c should
// have passed Validate: an empty Path or an out-of-range DeniedStatus is
// replaced by its default, and invalid trusted prefixes are dropped.
func New(c Config, table Checker, now func() time.Time, m *Metrics) *Handler {
	h := &Handler{path: c.Path, deniedBody: []byte(c.DeniedBody), deniedStatus: c.DeniedStatus, table: table, now: now, m: m}
	if h.path == "" {
		h.path = DefaultPath
	}
	if h.deniedStatus < 400 || h.deniedStatus > 599 {
		h.deniedStatus = DefaultDeniedStatus
	}
	if h.now == nil {
		h.now = time.Now
	}
	if h.m == nil {
		h.m = new(Metrics)
	}
	for _, p := range c.TrustedProxies {
		if p, ok := normalizePrefix(p); ok {
			h.trusted = append(h.trusted, p)
		}
	}
	return h
}

// Path returns the path the handler answers; mount it there.
func (h *Handler) Path() string { return h.path }

// ServeHTTP answers 200 with an empty body when no address the request
// stands for is banned, and DeniedStatus with DeniedBody and the
// X-Phalanx-Decision header otherwise. It answers GET and HEAD on Path only.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != h.path {
		http.NotFound(w, r)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed: use GET or HEAD", http.StatusMethodNotAllowed)
		return
	}
	var c candidates
	h.collect(r, &c)
	if c.bad {
		h.m.badHeader.n.Add(1)
	}
	if c.n == 0 {
		// No address at all: the connection is not an IP connection (a
		// Unix socket), so nobody can be checked. Refuse rather than let
		// everyone in.
		h.deny(w, 0, false)
		return
	}
	now := h.now()
	for _, a := range c.addrs[:c.n] {
		if id, _, banned := h.table.Check(a, now); banned {
			h.deny(w, id, true)
			return
		}
	}
	h.m.allowed.n.Add(1)
	w.WriteHeader(http.StatusOK)
}

func (h *Handler) deny(w http.ResponseWriter, id uint64, hasID bool) {
	h.m.denied.n.Add(1)
	hd := w.Header()
	if hasID {
		hd[DecisionHeader] = []string{strconv.FormatUint(id, 10)}
	}
	if len(h.deniedBody) > 0 {
		hd["Content-Type"] = []string{"text/plain; charset=utf-8"}
	}
	hd["Cache-Control"] = []string{"no-store"}
	w.WriteHeader(h.deniedStatus)
	_, _ = w.Write(h.deniedBody)
}

// normalizePrefix returns p masked, with an IPv4-mapped prefix of 96 bits or
// more turned into IPv4, as addresses are compared after Unmap.
func normalizePrefix(p netip.Prefix) (netip.Prefix, bool) {
	if !p.IsValid() {
		return netip.Prefix{}, false
	}
	if a := p.Addr(); a.Is4In6() && p.Bits() >= 96 {
		p = netip.PrefixFrom(a.Unmap(), p.Bits()-96)
	}
	return p.Masked(), true
}
