package feed

import (
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"time"

	"phalanx"
	"phalanx/decision"
	"phalanx/jsonout"
)

// KeyChecker says whether key is a valid bouncer API key. lapi.Keys is the
// one the daemon passes.
type KeyChecker interface{ Valid(key string) bool }

// Paths that Out serves.
const (
	PathPlain = "/v1/feeds/plain"
	PathJSON  = "/v1/feeds/json"
	PathSTIX  = "/v1/feeds/stix"
)

// Content types of the feeds. STIX's is the media type TAXII 2.1 gives
// STIX 2.1 content.
const (
	contentPlain = "text/plain; charset=utf-8"
	contentJSON  = "application/json; charset=utf-8"
	contentSTIX  = "application/stix+json;version=2.1"
)

// Messages of error responses, in lapi's {"message":"…"} shape; the
// forbidden one is CrowdSec's own words, as lapi answers.
const (
	msgForbidden = "access forbidden"
	msgNotFound  = "Page or Method not found"
	msgMethod    = "method not allowed"
	msgFamily    = "family must be 4 or 6 (or absent for both)"
)

// out serves the feeds; NewOut builds it.
type out struct {
	table    *decision.Table
	keys     KeyChecker
	now      func() time.Time
	stix     stixProducer
	identity []byte // the STIX identity object of the member, encoded once
}

// NewOut returns the handler of the three feeds of the member's active bans,
// each behind a bouncer key in the X-Api-Key header:
//
//   - GET /v1/feeds/plain: one address or CIDR per line (single addresses
//     without /32 or /128), for ipset, nftables, pf and routers;
//   - GET /v1/feeds/json: a JSON array of {value, scope, origin, scenario,
//     until};
//   - GET /v1/feeds/stix: a STIX 2.1 bundle with an identity object for
//     member and one indicator per ban.
//
// Each takes ?family=4 or ?family=6 to keep one address family. Only
// decisions of type ban active at now() are served, each prefix once.
// Responses are streamed from the table in 64 KiB writes, never built in
// memory. A request without a valid key gets 403 {"message":"access
// forbidden"}, as lapi answers; any other path under the mount gets 404.
// now is the clock (time.Now when nil).
func NewOut(table *decision.Table, keys KeyChecker, member string, now func() time.Time) http.Handler {
	if now == nil {
		now = time.Now
	}
	o := &out{table: table, keys: keys, now: now, stix: newSTIXProducer(member)}
	o.identity = o.stix.appendIdentity(nil, now())
	return o
}

func (o *out) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var write func(*jsonout.Chunked, *phalanx.Decision)
	var ctype string
	switch r.URL.Path {
	case PathPlain:
		write, ctype = writePlain, contentPlain
	case PathJSON:
		write, ctype = writeJSONItem, contentJSON
	case PathSTIX:
		write, ctype = o.writeSTIXItem, contentSTIX
	default:
		writeMessage(w, http.StatusNotFound, msgNotFound)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		writeMessage(w, http.StatusMethodNotAllowed, msgMethod)
		return
	}
	if o.keys == nil || !o.keys.Valid(r.Header.Get("X-Api-Key")) {
		writeMessage(w, http.StatusForbidden, msgForbidden)
		return
	}
	family, ok := parseFamily(r.URL.RawQuery)
	if !ok {
		writeMessage(w, http.StatusBadRequest, msgFamily)
		return
	}
	h := w.Header()
	h.Set("Content-Type", ctype)
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	if r.Method == http.MethodHead {
		w.WriteHeader(http.StatusOK)
		return
	}
	w.WriteHeader(http.StatusOK)
	now := o.now()
	c := jsonout.NewChunked(w)
	switch r.URL.Path {
	case PathJSON:
		c.Str("[")
	case PathSTIX:
		c.Buf = o.stix.appendBundleStart(c.Buf)
		c.Buf = append(c.Buf, o.identity...)
	}
	o.each(now, family, func(d *phalanx.Decision) bool {
		write(c, d)
		return c.Err == nil
	})
	switch r.URL.Path {
	case PathJSON:
		if c.N == 0 {
			c.Str("]\n")
		} else {
			c.Str("\n]\n")
		}
	case PathSTIX:
		c.Str("\n]}\n")
	}
	_ = c.Flush() // a client that went away is not an error of ours
}

// each calls fn for every ban active at now in the family (0 for both),
// until fn returns false.
func (o *out) each(now time.Time, family int, fn func(*phalanx.Decision) bool) {
	var cur phalanx.Decision // one copy for the whole feed, not one each
	o.table.All(func(d phalanx.Decision) bool {
		if !d.Active(now) || d.Type != "" && d.Type != "ban" {
			return true
		}
		if family == 4 && !d.Value.Addr().Is4() || family == 6 && !d.Value.Addr().Is6() {
			return true
		}
		cur = d
		return fn(&cur)
	})
}

// parseFamily reads the family parameter: 0 (both) when absent or empty.
func parseFamily(rawQuery string) (int, bool) {
	if rawQuery == "" {
		return 0, true
	}
	q, _ := url.ParseQuery(rawQuery) // keep what parses, as lapi does
	switch q.Get("family") {
	case "":
		return 0, true
	case "4", "ipv4", "inet":
		return 4, true
	case "6", "ipv6", "inet6":
		return 6, true
	}
	return 0, false
}

// writePlain writes d's value on a line of its own.
func writePlain(c *jsonout.Chunked, d *phalanx.Decision) {
	c.Buf = appendValue(c.Buf, d.Value)
	c.Buf = append(c.Buf, '\n')
	c.N++
	c.MaybeFlush()
}

// writeJSONItem writes d as an element of the JSON feed's array:
//
//	{"value":"192.0.2.1","scope":"Ip","origin":"self","scenario":"ssh-bf","until":"2026-01-01T04:00:00Z"}
func writeJSONItem(c *jsonout.Chunked, d *phalanx.Decision) {
	b := c.Buf
	if c.N > 0 {
		b = append(b, ',')
	}
	b = append(b, "\n{\"value\":\""...)
	b = appendValue(b, d.Value)
	b = append(b, `","scope":"`...)
	b = append(b, d.Scope()...)
	b = append(b, `","origin":`...)
	b = appendJSONString(b, string(d.Origin))
	b = append(b, `,"scenario":`...)
	b = appendJSONString(b, scenarioOf(d))
	b = append(b, `,"until":"`...)
	b = clampTime(d.Until).AppendFormat(b, time.RFC3339)
	b = append(b, `"}`...)
	c.Buf = b
	c.N++
	c.MaybeFlush()
}

// writeSTIXItem writes d as an indicator object of the bundle.
func (o *out) writeSTIXItem(c *jsonout.Chunked, d *phalanx.Decision) {
	c.Buf = append(c.Buf, ',', '\n')
	c.Buf = o.stix.appendIndicator(c.Buf, d)
	c.N++
	c.MaybeFlush()
}

// appendValue appends p as the feeds write it: a single address without
// its prefix length, a range as CIDR.
func appendValue(b []byte, p netip.Prefix) []byte {
	if p.IsSingleIP() {
		return p.Addr().AppendTo(b)
	}
	return p.AppendTo(b)
}

// scenarioOf is the decision's scenario, or its reason when it has none
// (an operator's decision), as lapi sends it.
func scenarioOf(d *phalanx.Decision) string {
	if d.Scenario != "" {
		return d.Scenario
	}
	return d.Reason
}

// writeMessage writes lapi's error shape, {"message":"…"}.
func writeMessage(w http.ResponseWriter, status int, msg string) {
	b := append([]byte(`{"message":`), appendJSONString(nil, msg)...)
	b = append(b, '}')
	w.Header().Set("Content-Type", contentJSON)
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	_, _ = w.Write(b)
}
