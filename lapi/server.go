// Package lapi serves the part of CrowdSec's local API that bouncers use
// (/v1/decisions/stream, /v1/decisions, /v1/usage-metrics), so that
// CrowdSec's bouncers (firewall, nginx, Traefik…) enforce phalanx's
// decisions unchanged. It answers byte for byte as CrowdSec does where a
// bouncer could tell the difference, keeps each bouncer's API key (hashed)
// and its place in the stream, and records the table's changes so that each
// bouncer gets what changed since its own last pull.
//
// It must not decide anything or change the decision table: it reads the
// table and the Journal the daemon feeds. It serves only bouncer routes;
// agents' routes (watchers, alerts, JWT) and phalanx's own API live
// elsewhere. Input is hostile: query strings and bodies are bounded and
// never make it fail with a 500 or panic.
package lapi

import (
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"time"

	"phalanx"
	"phalanx/decision"
	"phalanx/jsonout"
)

// DefaultMaxBody is Config.MaxBody's default: 1 MiB.
const DefaultMaxBody = 1 << 20

// Config is the server's configuration.
type Config struct {
	MaxBody int64        // largest request body accepted; DefaultMaxBody when <= 0
	Logger  *slog.Logger // nil discards logs
}

// Server answers bouncers. Build it with New.
type Server struct {
	maxBody int64
	log     *slog.Logger
	table   *decision.Table
	journal *Journal
	keys    *Keys
	now     func() time.Time
}

// New returns a server that reads table, serves deltas from j and
// authenticates bouncers with k. now is the clock (time.Now when nil).
func New(c Config, table *decision.Table, j *Journal, k *Keys, now func() time.Time) *Server {
	s := &Server{maxBody: c.MaxBody, log: c.Logger, table: table, journal: j, keys: k, now: now}
	if s.maxBody <= 0 {
		s.maxBody = DefaultMaxBody
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	return s
}

// Handler returns the handler of the /v1/ bouncer routes. Every other path
// is a 404; the daemon mounts it beside its own API.
func (s *Server) Handler() http.Handler { return http.HandlerFunc(s.serveHTTP) }

// Messages of error responses. CrowdSec's own words where bouncers see them.
const (
	msgForbidden = "access forbidden"
	msgNotFound  = "Page or Method not found"
	msgMethod    = "method not allowed"
	msgTooLarge  = "request body too large"
)

const contentJSON = "application/json; charset=utf-8"

func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	read := r.Method == http.MethodGet || r.Method == http.MethodHead
	var handle func(http.ResponseWriter, *http.Request, string)
	var allowed bool
	var allow string
	switch r.URL.Path {
	case "/v1/decisions/stream":
		handle, allowed, allow = s.stream, read, "GET, HEAD"
	case "/v1/decisions":
		handle, allowed, allow = s.decisions, read, "GET, HEAD"
	case "/v1/usage-metrics":
		handle, allowed, allow = s.usageMetrics, r.Method == http.MethodPost, "POST"
	default:
		writeMessage(w, http.StatusNotFound, msgNotFound)
		return
	}
	if !allowed {
		w.Header().Set("Allow", allow)
		writeMessage(w, http.StatusMethodNotAllowed, msgMethod)
		return
	}
	name, ok := s.keys.authenticate(r.Header.Get("X-Api-Key"))
	if !ok {
		s.log.Debug("bouncer request refused: wrong or missing API key", "path", r.URL.Path, "remote", r.RemoteAddr)
		writeMessage(w, http.StatusForbidden, msgForbidden)
		return
	}
	handle(w, r, name)
}

// writeMessage writes CrowdSec's error shape, {"message":"…"}.
func writeMessage(w http.ResponseWriter, status int, msg string) {
	b := append([]byte(`{"message":`), jsonout.AppendString(nil, msg)...)
	b = append(b, '}')
	w.Header().Set("Content-Type", contentJSON)
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// query parses the raw query as net/url does, keeping what parses.
func query(r *http.Request) url.Values {
	q, _ := url.ParseQuery(r.URL.RawQuery)
	return q
}

// stream serves /v1/decisions/stream: with startup=true every active
// decision, otherwise what changed since this bouncer's previous pull.
func (s *Server) stream(w http.ResponseWriter, r *http.Request, name string) {
	q := query(r)
	f, err := parseFilter(q, scopeIP|scopeRange)
	if err != nil {
		writeMessage(w, http.StatusBadRequest, err.Error())
		return
	}
	if r.Method == http.MethodHead {
		// As CrowdSec: no body, and the cursor stays where it is, or the
		// next GET would miss what changed meanwhile.
		w.Header().Set("Content-Type", contentJSON)
		w.WriteHeader(http.StatusOK)
		return
	}
	now := s.now()
	startup := q.Get("startup") == "true"
	w.Header().Set("Content-Type", contentJSON)
	w.WriteHeader(http.StatusOK)
	out := jsonout.NewChunked(w)

	var next cursor
	var nNew, nDeleted int
	full := startup
	if !startup {
		ch, upTo, ok := s.journal.since(s.keys.cursorOf(name, now))
		next = upTo
		if ok {
			added, deleted := delta(ch)
			out.Str(`{"new":`)
			l := decisionList(out)
			for i := range added {
				d := &added[i]
				if d.Until.After(now) && f.match(d) {
					l.item(d, now)
				}
			}
			nNew = l.end()
			out.Str(`,"deleted":`)
			l = decisionList(out)
			for i := range deleted {
				if f.match(&deleted[i]) {
					l.item(&deleted[i], now)
				}
			}
			nDeleted = l.end()
			out.Str(`}`)
		} else {
			full = true
		}
	} else {
		next = s.journal.now()
	}
	if full {
		// Every active decision. The cursor was taken before the table is
		// read: a change made during the read is sent again next time,
		// never lost.
		out.Str(`{"new":`)
		l := decisionList(out)
		s.table.All(func(d phalanx.Decision) bool {
			if d.Until.After(now) && f.match(&d) {
				l.item(&d, now)
			}
			return out.Err == nil
		})
		nNew = l.end()
		out.Str(`,"deleted":`)
		decisionList(out).end()
		out.Str(`}`)
	}
	if err := out.Flush(); err != nil {
		// The bouncer did not get it all: keep its cursor, so that its
		// next pull sends the same changes again.
		s.log.Debug("bouncer stream cut", "bouncer", name, "err", err)
		return
	}
	if err := s.keys.pulled(name, &next, now); err != nil {
		s.log.Warn("cannot save bouncer keys", "err", err)
	}
	s.log.Debug("bouncer pulled stream", "bouncer", name, "startup", startup, "full", full,
		"new", nNew, "deleted", nDeleted, "took", s.now().Sub(now))
}

// decisions serves /v1/decisions: the active decisions on an address or
// range, as an array, or null when there are none.
func (s *Server) decisions(w http.ResponseWriter, r *http.Request, name string) {
	l, err := parseLookup(query(r))
	if err != nil {
		writeMessage(w, http.StatusBadRequest, err.Error())
		return
	}
	if r.Method == http.MethodHead {
		w.Header().Set("Content-Type", contentJSON)
		w.WriteHeader(http.StatusOK)
		return
	}
	now := s.now()
	w.Header().Set("Content-Type", contentJSON)
	w.WriteHeader(http.StatusOK)
	out := jsonout.NewChunked(w)
	list := nullList(out)
	switch {
	case l.hasValue && !l.value.IsValid():
		// A value that is no address or range matches nothing.
	case l.target.IsValid() && l.contains || l.hasValue:
		// The decisions whose prefix contains the target are those that
		// cover its first address with a prefix no longer than its own;
		// those on exactly the value are among those covering its first
		// address.
		at := l.value.Addr()
		if l.target.IsValid() && l.contains {
			at = l.target.Addr()
		}
		for _, d := range s.table.Covering(at, now) {
			if l.match(&d) {
				list.item(&d, now)
			}
		}
	default:
		s.table.All(func(d phalanx.Decision) bool {
			if d.Active(now) && l.match(&d) {
				list.item(&d, now)
			}
			return out.Err == nil
		})
	}
	list.end()
	if err := out.Flush(); err != nil {
		return
	}
	if err := s.keys.pulled(name, nil, now); err != nil {
		s.log.Warn("cannot save bouncer keys", "err", err)
	}
}

// usageMetrics accepts /v1/usage-metrics, which current bouncers send every
// 15 minutes: the body must be a JSON object within the size limit, and is
// then discarded. 201, with no body, as CrowdSec answers.
func (s *Server) usageMetrics(w http.ResponseWriter, r *http.Request, name string) {
	if r.ContentLength > s.maxBody {
		writeMessage(w, http.StatusRequestEntityTooLarge, msgTooLarge)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.maxBody))
	if err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			writeMessage(w, http.StatusRequestEntityTooLarge, msgTooLarge)
			return
		}
		writeMessage(w, http.StatusBadRequest, "cannot read the request body")
		return
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(body, &obj); err != nil || obj == nil {
		writeMessage(w, http.StatusBadRequest, "the body must be a JSON object of usage metrics")
		return
	}
	s.log.Debug("bouncer sent usage metrics", "bouncer", name, "bytes", len(body))
	w.WriteHeader(http.StatusCreated)
}

// list starts a JSON array of decisions written as "[]" when empty: the
// stream's lists. CrowdSec 1.4 writes null there and newer versions (in
// chunked mode) [], so bouncers meet both; Debian's firewall bouncer 0.0.25
// was run against both (TestFirewallBouncerInterop runs it against this
// server), and [] is the one every JSON client can iterate.
func decisionList(c *jsonout.Chunked) *listWriter { return &listWriter{c: c, empty: "[]"} }

// nullList starts a JSON array of decisions written as null when empty:
// /v1/decisions, where live-mode bouncers take null as "not banned", as
// CrowdSec answers.
func nullList(c *jsonout.Chunked) *listWriter { return &listWriter{c: c, empty: "null"} }

type listWriter struct {
	c     *jsonout.Chunked
	empty string
	n     int
}

func (l *listWriter) item(d *phalanx.Decision, now time.Time) {
	if l.n == 0 {
		l.c.Buf = append(l.c.Buf, '[')
	} else {
		l.c.Buf = append(l.c.Buf, ',')
	}
	l.n++
	l.c.Buf = appendDecision(l.c.Buf, d, now)
	l.c.MaybeFlush()
}

func (l *listWriter) end() int {
	if l.n == 0 {
		l.c.Str(l.empty)
	} else {
		l.c.Str("]")
	}
	return l.n
}
