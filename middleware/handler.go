package middleware

import (
	"net/http"
	"net/netip"
	"strings"
)

// maxHops bounds the walk through X-Forwarded-For: past that many trusted
// proxies in a row, the hop reached is taken as the client.
const maxHops = 32

// Handler returns next guarded: a request from a banned client gets 403
// Forbidden, every other goes to next. The client is the peer
// (RemoteAddr), unless the peer is one of Config.TrustedProxies: then it
// is the rightmost address of X-Forwarded-For that is not a trusted proxy
// (the proxies append the address of whoever connected to them, so the
// entries left of it are the client's own words). A request whose client
// address cannot be read (a Unix socket with no trusted proxy) goes to
// next.
func (g *Guard) Handler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if a, ok := g.clientAddr(r); ok && g.Banned(a) {
			g.log.Debug("refused a banned client", "client", a, "path", r.URL.Path)
			w.Header().Set("Cache-Control", "no-store")
			http.Error(w, "Forbidden", http.StatusForbidden)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// clientAddr returns the address of r's client, as Handler describes.
func (g *Guard) clientAddr(r *http.Request) (netip.Addr, bool) {
	a, ok := parseHop(r.RemoteAddr)
	if !ok || !g.trustedProxy(a) {
		return a, ok
	}
	hops := 0
	xff := r.Header.Values("X-Forwarded-For")
	for i := len(xff) - 1; i >= 0; i-- {
		rest := xff[i]
		for rest != "" {
			item := rest
			if j := strings.LastIndexByte(rest, ','); j >= 0 {
				item, rest = rest[j+1:], rest[:j]
			} else {
				rest = ""
			}
			item = strings.TrimSpace(item)
			if item == "" {
				continue
			}
			h, ok := parseHop(item)
			if !ok {
				// Not an address where a trusted proxy should have
				// written one: the last trusted hop is all we know.
				return a, true
			}
			a = h
			if hops++; hops >= maxHops || !g.trustedProxy(a) {
				return a, true
			}
		}
	}
	return a, true // every hop is a trusted proxy: the leftmost is the client
}

// parseHop reads an address as RemoteAddr and X-Forwarded-For hold it:
// with or without a port, IPv6 with or without brackets. It returns the
// address unmapped and without zone.
func parseHop(s string) (netip.Addr, bool) {
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().Unmap().WithZone(""), true
	}
	s = strings.TrimSuffix(strings.TrimPrefix(s, "["), "]")
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}, false
	}
	return a.Unmap().WithZone(""), true
}

func (g *Guard) trustedProxy(a netip.Addr) bool {
	for _, p := range g.trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}
