package middleware

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

// item writes one decision as CrowdSec's stream does.
func item(typ, scope, value, duration string) string {
	return fmt.Sprintf(`{"duration":%q,"id":1,"origin":"crowdsec","scenario":"crowdsecurity/ssh-bf","scope":%q,"type":%q,"until":"2025-01-01T04:00:00Z","value":%q}`,
		duration, scope, typ, value)
}

func TestDecodeStream(t *testing.T) {
	h := unixUntil(t0.Add(time.Hour))
	for _, tc := range []struct {
		name    string
		body    string
		added   []string // "prefix@until-offset-seconds"
		deleted []string
		bad     int
		ignored int
	}{
		{name: "empty lists", body: `{"new":[],"deleted":[]}`},
		{name: "null lists", body: `{"new":null,"deleted":null}`},
		{name: "no members", body: `{}`},
		{name: "whitespace", body: " \n{ \"new\" : [ ] , \"deleted\" : null }\n\t"},
		{
			name:  "a ban on an address",
			body:  `{"new":[` + item("ban", "Ip", "192.0.2.1", "1h0m0s") + `],"deleted":null}`,
			added: []string{"192.0.2.1/32@3600"},
		},
		{
			name:  "a ban on a range, host bits masked",
			body:  `{"new":[` + item("ban", "Range", "198.51.100.7/24", "59m59.5s") + `]}`,
			added: []string{"198.51.100.0/24@3600"},
		},
		{
			name:  "IPv6 address, mapped IPv4 and zone",
			body:  `{"new":[` + item("ban", "Ip", "2001:db8::1", "1h") + `,` + item("ban", "Ip", "::ffff:192.0.2.9", "1h") + `,` + item("ban", "Ip", "fe80::1%eth0", "1h") + `]}`,
			added: []string{"2001:db8::1/128@3600", "192.0.2.9/32@3600", "fe80::1/128@3600"},
		},
		{
			name:  "scope and type in other cases, single address as range",
			body:  `{"new":[` + item("BAN", "ip", "192.0.2.1", "1h") + `,` + item("ban", "RANGE", "192.0.2.2", "1h") + `]}`,
			added: []string{"192.0.2.1/32@3600", "192.0.2.2/32@3600"},
		},
		{
			name:    "deleted, with negative durations",
			body:    `{"new":[],"deleted":[` + item("ban", "Ip", "192.0.2.1", "-5s") + `,` + item("ban", "Range", "10.0.0.0/8", "-3h0m0s") + `]}`,
			deleted: []string{"192.0.2.1/32", "10.0.0.0/8"},
		},
		{
			name:    "deleted before new",
			body:    `{"deleted":[` + item("ban", "Ip", "192.0.2.1", "-5s") + `],"new":[` + item("ban", "Ip", "192.0.2.1", "1h") + `]}`,
			added:   []string{"192.0.2.1/32@3600"},
			deleted: []string{"192.0.2.1/32"},
		},
		{
			name:    "other types and scopes are ignored",
			body:    `{"new":[` + item("captcha", "Ip", "192.0.2.1", "1h") + `,` + item("ban", "Country", "FR", "1h") + `,` + item("ban", "AS", "1234", "1h") + `],"deleted":[` + item("captcha", "Ip", "192.0.2.2", "-1s") + `]}`,
			ignored: 4,
		},
		{
			name:    "ended bans are ignored",
			body:    `{"new":[` + item("ban", "Ip", "192.0.2.1", "0s") + `,` + item("ban", "Ip", "192.0.2.2", "-1s") + `]}`,
			ignored: 2,
		},
		{
			name:  "until when the duration is missing",
			body:  `{"new":[{"scope":"Ip","type":"ban","value":"192.0.2.1","until":"2025-01-01T01:00:00Z"}]}`,
			added: []string{"192.0.2.1/32@3600"},
		},
		{
			name:  "unknown fields and members",
			body:  `{"new":[{"scope":"Ip","type":"ban","value":"192.0.2.1","duration":"1h","extra":{"a":[1,2,{"b":null}]},"uuid":"x"}],"meta":{"x":[[],{}]},"n":5,"s":"x","deleted":[]}`,
			added: []string{"192.0.2.1/32@3600"},
		},
		{
			name:  "bad entries are skipped and counted",
			body:  `{"new":[null,5,"x",[],{},` + item("ban", "Ip", "not an ip", "1h") + `,` + `{"scope":"Ip","type":"ban","value":"192.0.2.1","duration":"forever"},{"scope":"Ip","type":"ban","value":7},{"scope":"Ip","type":"ban","value":"192.0.2.3"},{"scope":"","type":"ban","value":"192.0.2.4","duration":"1h"},` + item("ban", "Range", "10.0.0.0/33", "1h") + `,` + item("ban", "Ip", "192.0.2.2", "1h") + `]}`,
			added: []string{"192.0.2.2/32@3600"},
			bad:   11,
		},
		{
			name:  "huge duration is capped",
			body:  `{"new":[` + item("ban", "Ip", "192.0.2.1", "2540400h10m10.000000000s") + `]}`,
			added: []string{"192.0.2.1/32@max"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := decodeStream(strings.NewReader(tc.body), t0, DefaultMaxBody)
			if err != nil {
				t.Fatal(err)
			}
			var added, deleted []string
			for _, b := range got.added {
				off := fmt.Sprint(int64(b.until) - int64(h) + 3600)
				if b.until == unixUntil(t0.Add(maxDuration)) {
					off = "max"
				}
				added = append(added, b.value.String()+"@"+off)
			}
			for _, p := range got.deleted {
				deleted = append(deleted, p.String())
			}
			if !slices.Equal(added, tc.added) {
				t.Errorf("added = %q, want %q", added, tc.added)
			}
			if !slices.Equal(deleted, tc.deleted) {
				t.Errorf("deleted = %q, want %q", deleted, tc.deleted)
			}
			if got.bad != tc.bad || got.ignored != tc.ignored {
				t.Errorf("bad, ignored = %d, %d; want %d, %d", got.bad, got.ignored, tc.bad, tc.ignored)
			}
		})
	}
}

func TestDecodeStreamErrors(t *testing.T) {
	long := strings.Repeat("x", maxEntry)
	for _, tc := range []struct {
		name    string
		body    string
		maxBody int64
		want    error // nil: any error
	}{
		{name: "empty", body: ``},
		{name: "null", body: `null`},
		{name: "list", body: `[]`},
		{name: "not JSON", body: `<html>502 Bad Gateway</html>`},
		{name: "cut", body: `{"new":[` + item("ban", "Ip", "192.0.2.1", "1h")},
		{name: "cut inside an entry", body: `{"new":[{"scope":"Ip"`},
		{name: "new not a list", body: `{"new":5}`},
		{name: "new an object", body: `{"new":{}}`},
		{name: "syntax error in an entry", body: `{"new":[{"scope":"Ip",,}]}`},
		{name: "data after the object", body: `{"new":[]} {}`},
		{name: "two objects", body: `{}{}`},
		{name: "an entry too large", body: `{"new":[{"scenario":"` + long + `"}]}`, want: errEntryTooLarge},
		{name: "an unknown member too large", body: `{"x":"` + long + `","new":[]}`, want: errEntryTooLarge},
		{name: "whitespace too long", body: `{"new":[` + strings.Repeat(" ", maxEntry+10) + `]}`, want: errEntryTooLarge},
		{name: "body too large", body: `{"new":[` + strings.Repeat(item("ban", "Ip", "192.0.2.1", "1h")+",", 100) + `{}]}`, maxBody: 4096, want: errBodyTooLarge},
		{name: "body one byte too large", body: `{"new":[]} `, maxBody: 10, want: errBodyTooLarge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			max := tc.maxBody
			if max == 0 {
				max = DefaultMaxBody
			}
			_, err := decodeStream(strings.NewReader(tc.body), t0, max)
			if err == nil {
				t.Fatal("no error")
			}
			if tc.want != nil && !errors.Is(err, tc.want) {
				t.Fatalf("error %q, want %q", err, tc.want)
			}
		})
	}
	// Exactly at the limit is fine.
	body := `{"new":[]}`
	if _, err := decodeStream(strings.NewReader(body), t0, int64(len(body))); err != nil {
		t.Errorf("a body of exactly MaxBody bytes: %v", err)
	}
}

// FuzzDecode feeds the stream decoder arbitrary responses: it must never
// panic, must keep to its bounds, and must return only normalised
// prefixes of bans that have not ended.
func FuzzDecode(f *testing.F) {
	f.Add(`{"new":[` + item("ban", "Ip", "192.0.2.1", "3h59m59s") + `,` + item("ban", "Range", "2001:db8::/48", "1s") + `],"deleted":[` + item("ban", "Ip", "::ffff:10.0.0.1", "-1s") + `]}`)
	f.Add(`{"new":null,"deleted":null}`)
	f.Add(`{"new":[null,{},[],"x",{"value":5}],"x":{"y":[1,{"z":null}]}}`)
	f.Add(`{"deleted":[{"scope":"range","type":"BAN","value":"10.1.2.3/8","duration":"-1h"}]}`)
	f.Add(`{"new":[{"scope":"Ip","type":"ban","value":"fe80::1%25eth0","until":"2030-01-01T00:00:00Z"}]}`)
	f.Fuzz(func(t *testing.T, body string) {
		const max = 4096
		got, err := decodeStream(strings.NewReader(body), t0, max)
		if err != nil {
			if got != nil {
				t.Fatal("a result with an error")
			}
			return
		}
		if len(body) > max {
			t.Fatalf("accepted %d bytes, more than the bound %d", len(body), max)
		}
		now := unixNow(t0)
		for _, b := range got.added {
			if n, ok := normal(b.value); !ok || n != b.value {
				t.Errorf("added %v is not normalised", b.value)
			}
			if b.until <= now {
				t.Errorf("added %v ends at %d, not after now %d", b.value, b.until, now)
			}
		}
		for _, p := range got.deleted {
			if n, ok := normal(p); !ok || n != p {
				t.Errorf("deleted %v is not normalised", p)
			}
		}
		if got.bad < 0 || got.ignored < 0 || len(got.added)+len(got.deleted)+got.bad+got.ignored > len(body) {
			t.Errorf("implausible counts: %d added, %d deleted, %d bad, %d ignored from %d bytes",
				len(got.added), len(got.deleted), got.bad, got.ignored, len(body))
		}
	})
}

// normal is the normalisation the table relies on, written out.
func normal(p netip.Prefix) (netip.Prefix, bool) {
	if !p.IsValid() {
		return p, false
	}
	a := p.Addr().WithZone("")
	bits := p.Bits()
	if a.Is4In6() && bits >= 96 {
		a, bits = a.Unmap(), bits-96
	}
	return netip.PrefixFrom(a, bits).Masked(), true
}
