package lapi

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"phalanx"
)

// FuzzQuery sends random query strings to the bouncer routes: the server
// must never panic, never answer 500, and always answer JSON.
func FuzzQuery(f *testing.F) {
	seeds := []string{
		"startup=true",
		"startup=false&scopes=ip,range&origins=crowdsec,cscli",
		"scopes=&origins=,,,&scenarios_containing=%00&scenarios_not_containing=a,b",
		"ip=1.2.3.4", "ip=::ffff:1.2.3.4%25eth0", "range=10.0.0.0/8&contains=false",
		"range=1.2.3.4/33", "ip=999.1.1.1", "scope=ip&value=10.1.2.3&type=ban",
		"contains=TRUE&ip=2001:db8::1", "value=", "%zz=%", "a;b=c", "ip=1.2.3.4&ip=5.6.7.8",
		"scenarios_containing=a,a,a,a,a,a,a,a,a,a,a,a,a,a,a,a,a,a,a,a,a,a,a,a,a,a,a,a,a,a,a,a,a",
	}
	for i, s := range seeds {
		f.Add(s, uint8(i))
	}
	e := newEnv(f, 0)
	e.ban("10.0.0.0/8", time.Hour, phalanx.OriginFeed, "wide")
	e.ban("10.1.2.3/32", time.Hour, phalanx.OriginSelf, "exact\x00<&>")
	e.ban("2001:db8::/48", time.Hour, phalanx.OriginAlliance, "v6")
	paths := []string{"/v1/decisions/stream", "/v1/decisions"}
	f.Fuzz(func(t *testing.T, rawQuery string, sel uint8) {
		method := "GET"
		if sel&1 == 1 {
			method = "HEAD"
		}
		path := paths[int(sel>>1)%len(paths)]
		r := &http.Request{
			Method:     method,
			URL:        &url.URL{Path: path, RawQuery: rawQuery},
			Header:     http.Header{"X-Api-Key": {e.key}},
			Body:       http.NoBody,
			Proto:      "HTTP/1.1",
			ProtoMajor: 1,
			ProtoMinor: 1,
			RemoteAddr: "192.0.2.1:1234",
			Host:       "lapi",
		}
		w := httptest.NewRecorder()
		e.h.ServeHTTP(w, r)
		switch w.Code {
		case 200:
			if method == "HEAD" {
				if w.Body.Len() != 0 {
					t.Fatalf("HEAD %s?%s: body %q", path, rawQuery, w.Body)
				}
				return
			}
			if !json.Valid(w.Body.Bytes()) {
				t.Fatalf("GET %s?%s: invalid JSON %q", path, rawQuery, w.Body)
			}
		case 400:
			var m struct{ Message string }
			if err := json.Unmarshal(w.Body.Bytes(), &m); err != nil || m.Message == "" {
				t.Fatalf("%s %s?%s: 400 without message: %q", method, path, rawQuery, w.Body)
			}
		default:
			t.Fatalf("%s %s?%s: status %d %q", method, path, rawQuery, w.Code, w.Body)
		}
	})
}
