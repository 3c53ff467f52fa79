package lapi

import (
	"encoding/json"
	"net/netip"
	"testing"
	"time"

	"phalanx"
)

func TestAppendSeconds(t *testing.T) {
	cases := []struct {
		in   time.Duration
		want string
	}{
		{0, "0s"},
		{time.Nanosecond, "1s"}, // rounded up: an active decision never says 0s
		{999 * time.Millisecond, "1s"},
		{time.Second, "1s"},
		{time.Second + time.Nanosecond, "2s"},
		{59 * time.Second, "59s"},
		{time.Minute, "1m0s"},
		{time.Hour, "1h0m0s"},
		{3*time.Hour + 54*time.Minute + 42*time.Second, "3h54m42s"},
		{3*time.Hour + 54*time.Minute + 41*time.Second + 200*time.Millisecond, "3h54m42s"},
		{-time.Nanosecond, "0s"},
		{-1500 * time.Millisecond, "-1s"},
		{-90 * time.Second, "-1m30s"},
		{100000 * time.Hour, "100000h0m0s"},
	}
	for _, c := range cases {
		if got := string(appendSeconds(nil, c.in)); got != c.want {
			t.Errorf("appendSeconds(%v) = %q, want %q", c.in, got, c.want)
		}
	}
	// Whole seconds print exactly as Go prints them, and parse back.
	for s := int64(-4000); s <= 200000; s += 37 {
		d := time.Duration(s) * time.Second
		got := string(appendSeconds(nil, d))
		if got != d.String() {
			t.Fatalf("appendSeconds(%v) = %q, want %q", d, got, d.String())
		}
		if back, err := time.ParseDuration(got); err != nil || back != d {
			t.Fatalf("ParseDuration(%q) = %v, %v", got, back, err)
		}
	}
}

func TestAppendDecision(t *testing.T) {
	now := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	until := now.Add(3*time.Hour + 54*time.Minute + 42*time.Second)
	cases := []struct {
		d    phalanx.Decision
		want string
	}{
		{
			phalanx.Decision{ID: 10643, Origin: phalanx.OriginSelf, Type: "ban", Value: netip.MustParsePrefix("11.4.189.214/32"), Scenario: "crowdsecurity/ssh-bf", Until: until},
			`{"duration":"3h54m42s","id":10643,"origin":"crowdsec","scenario":"crowdsecurity/ssh-bf","scope":"Ip","type":"ban","until":"2025-01-01T03:54:42Z","value":"11.4.189.214"}`,
		},
		{
			phalanx.Decision{ID: 7, Origin: phalanx.OriginAlliance, Type: "ban", Value: netip.MustParsePrefix("198.51.100.0/24"), Scenario: "sshd-bf", Until: until},
			`{"duration":"3h54m42s","id":7,"origin":"CAPI","scenario":"sshd-bf","scope":"Range","type":"ban","until":"2025-01-01T03:54:42Z","value":"198.51.100.0/24"}`,
		},
		{
			phalanx.Decision{ID: 8, Origin: phalanx.OriginManual, Value: netip.MustParsePrefix("2001:db8::1/128"), Reason: `op said "go"`, Until: now.Add(time.Minute)},
			`{"duration":"1m0s","id":8,"origin":"cscli","scenario":"op said \"go\"","scope":"Ip","type":"ban","until":"2025-01-01T00:01:00Z","value":"2001:db8::1"}`,
		},
		{
			phalanx.Decision{ID: 9, Origin: phalanx.OriginFeed, Type: "captcha", Value: netip.MustParsePrefix("2001:db8::/64"), Scenario: "feed:x", Until: now.Add(-90 * time.Second)},
			`{"duration":"-1m30s","id":9,"origin":"lists","scenario":"feed:x","scope":"Range","type":"captcha","until":"2024-12-31T23:58:30Z","value":"2001:db8::/64"}`,
		},
	}
	for _, c := range cases {
		got := string(appendDecision(nil, &c.d, now))
		if got != c.want {
			t.Errorf("appendDecision(%d)\n got %s\nwant %s", c.d.ID, got, c.want)
		}
		if !json.Valid([]byte(got)) {
			t.Errorf("appendDecision(%d) is not valid JSON: %s", c.d.ID, got)
		}
	}
}
