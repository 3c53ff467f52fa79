package console

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// Roles of a session.
const (
	roleAdmin  = "admin"
	roleViewer = "viewer" // the read-only token: it may look, never change
)

const (
	cookieBase = "phalanx_console"
	secretLen  = 32 // random bytes of a session id, CSRF token or login link
)

type session struct {
	role    string
	csrf    string
	expires time.Time
}

type link struct {
	role    string
	expires time.Time
}

// auth keeps sessions and one-time login links, in memory, by the SHA-256
// of their secret: a memory dump does not sign anyone in.
type auth struct {
	cookie        string // the session cookie's name
	admin, viewer []byte
	now           func() time.Time
	linkTTL, ttl  time.Duration
	maxSess, maxL int

	mu       sync.Mutex
	sessions map[[32]byte]*session
	links    map[[32]byte]link
}

func newAuth(o Options) *auth {
	return &auth{cookie: cookieName(o.Member), admin: []byte(o.AdminToken), viewer: []byte(o.ReadOnlyToken), now: o.Now, linkTTL: o.LinkTTL, ttl: o.SessionTTL,
		maxSess: o.MaxSessions, maxL: o.MaxLinks, sessions: map[[32]byte]*session{}, links: map[[32]byte]link{}}
}

// cookieName is the session cookie's name for member: one per member, as
// members on one host share the browser's cookies.
func cookieName(member string) string {
	var b strings.Builder
	b.WriteString(cookieBase)
	for i, r := range member {
		if i >= 12 {
			break
		}
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' {
			if b.Len() == len(cookieBase) {
				b.WriteByte('_')
			}
			b.WriteRune(r)
		}
	}
	return b.String()
}

func randomSecret() string {
	var b [secretLen]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err) // crypto/rand does not fail on supported systems
	}
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// parseSecret checks that s has the shape of a secret this package makes
// (base64url of secretLen bytes) and returns its hash.
func parseSecret(s string) ([32]byte, bool) {
	if len(s) != base64.RawURLEncoding.EncodedLen(secretLen) {
		return [32]byte{}, false
	}
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(b) != secretLen {
		return [32]byte{}, false
	}
	return sha256.Sum256([]byte(s)), true
}

// roleOf returns the role a token signs in with, "" for none.
func (a *auth) roleOf(token string) string {
	t := []byte(token)
	admin := subtle.ConstantTimeCompare(t, a.admin)
	viewer := subtle.ConstantTimeCompare(t, a.viewer)
	switch {
	case admin == 1:
		return roleAdmin
	case viewer == 1:
		return roleViewer
	}
	return ""
}

// mintLink returns a one-time login secret for role.
func (a *auth) mintLink(role string) (string, time.Time, error) {
	now := a.now()
	a.mu.Lock()
	defer a.mu.Unlock()
	for h, l := range a.links {
		if !now.Before(l.expires) {
			delete(a.links, h)
		}
	}
	if len(a.links) >= a.maxL {
		return "", time.Time{}, errors.New("too many login links waiting to be used: use one, or wait until they expire")
	}
	s := randomSecret()
	exp := now.Add(a.linkTTL)
	a.links[sha256.Sum256([]byte(s))] = link{role: role, expires: exp}
	return s, exp, nil
}

// useLink spends a login secret: it signs in once, before it expires.
func (a *auth) useLink(s string) (string, bool) {
	h, ok := parseSecret(s)
	if !ok {
		return "", false
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	l, ok := a.links[h]
	if !ok {
		return "", false
	}
	delete(a.links, h)
	if !a.now().Before(l.expires) {
		return "", false
	}
	return l.role, true
}

// newSession returns a new session's id and the session.
func (a *auth) newSession(role string) (string, *session) {
	now := a.now()
	id := randomSecret()
	s := &session{role: role, csrf: randomSecret(), expires: now.Add(a.ttl)}
	a.mu.Lock()
	defer a.mu.Unlock()
	for h, x := range a.sessions {
		if !now.Before(x.expires) {
			delete(a.sessions, h)
		}
	}
	for len(a.sessions) >= a.maxSess {
		var oldest [32]byte
		var at time.Time
		for h, x := range a.sessions {
			if at.IsZero() || x.expires.Before(at) {
				oldest, at = h, x.expires
			}
		}
		delete(a.sessions, oldest)
	}
	a.sessions[sha256.Sum256([]byte(id))] = s
	return id, s
}

// session returns the live session of the request's cookie.
func (a *auth) session(r *http.Request) (*session, bool) {
	ck, err := r.Cookie(a.cookie)
	if err != nil {
		return nil, false
	}
	h, ok := parseSecret(ck.Value)
	if !ok {
		return nil, false
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	s, ok := a.sessions[h]
	if !ok {
		return nil, false
	}
	if !a.now().Before(s.expires) {
		delete(a.sessions, h)
		return nil, false
	}
	cp := *s
	return &cp, true
}

func (a *auth) endSession(r *http.Request) {
	ck, err := r.Cookie(a.cookie)
	if err != nil {
		return
	}
	if h, ok := parseSecret(ck.Value); ok {
		a.mu.Lock()
		delete(a.sessions, h)
		a.mu.Unlock()
	}
}

func (a *auth) sessionCount() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.sessions)
}

func (a *auth) setCookie(w http.ResponseWriter, r *http.Request, id string) {
	http.SetCookie(w, &http.Cookie{Name: a.cookie, Value: id, Path: "/ui/", MaxAge: int(a.ttl.Seconds()),
		HttpOnly: true, Secure: r.TLS != nil, SameSite: http.SameSiteStrictMode})
}

func (a *auth) clearCookie(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, &http.Cookie{Name: a.cookie, Value: "", Path: "/ui/", MaxAge: -1,
		HttpOnly: true, Secure: r.TLS != nil, SameSite: http.SameSiteStrictMode})
}

// sameOrigin reports whether a state-changing request comes from a page of
// this console: its Origin (or, without one, its Referer) names this host,
// and the browser does not call it cross-site.
func sameOrigin(r *http.Request) bool {
	if s := r.Header.Get("Sec-Fetch-Site"); s != "" && s != "same-origin" && s != "none" {
		return false
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	want := scheme + "://" + r.Host
	if o := r.Header.Get("Origin"); o != "" {
		return o == want
	}
	ref := r.Header.Get("Referer")
	if ref == "" {
		return false
	}
	u, err := url.Parse(ref)
	return err == nil && u.Scheme+"://"+u.Host == want
}

// checkCSRF reports whether a form post carries the session's CSRF token
// and comes from this console's own pages.
func checkCSRF(r *http.Request, s *session) bool {
	got := r.PostFormValue("csrf")
	return sameOrigin(r) && len(got) == len(s.csrf) && subtle.ConstantTimeCompare([]byte(got), []byte(s.csrf)) == 1
}
