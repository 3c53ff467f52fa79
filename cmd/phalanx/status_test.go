package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"phalanx/daemon"
)

// TestPrintRoster: one line per member, this member marked, a disconnected
// member in capitals with the reason under it, unknowns as "-".
func TestPrintRoster(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	last := now.Add(-90 * time.Second)
	lag0, lag7 := uint64(0), uint64(7)
	var out bytes.Buffer
	err := printRoster(&out, []daemon.MemberStatus{
		{ID: "m0000000000000001", Name: "web1", Self: true, Connected: true, Link: "self", Lag: &lag0},
		{ID: "m0000000000000002", Name: "web2", Connected: true, Link: "route", RTT: "312µs", Lag: &lag7, LastReport: &last, LastSeq: 42},
		{ID: "m0000000000000003", Note: "not reached: no link"},
	}, now)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimRight(out.String(), "\n"), "\n")
	want := [][]string{
		{},
		{"MEMBER", "ID", "FABRIC", "RTT", "LAG", "LAST REPORT"},
		{"web1 (this member)", "m00000000000", "connected (self)", "-", "0", "none"},
		{"web2", "m00000000000", "connected (route)", "312µs", "7", "1m30s ago (#42)"},
		{"-", "m00000000000", "DISCONNECTED", "-", "-", "none"},
		{"not reached: no link"},
	}
	if len(lines) != len(want) {
		t.Fatalf("%d lines, want %d:\n%s", len(lines), len(want), out.String())
	}
	for i, cells := range want {
		rest := lines[i]
		for _, c := range cells {
			j := strings.Index(rest, c)
			if j < 0 {
				t.Fatalf("line %d %q lacks %q (in order)", i, lines[i], c)
			}
			rest = rest[j+len(c):]
		}
	}
	var none bytes.Buffer
	if err := printRoster(&none, nil, now); err != nil || none.Len() != 0 {
		t.Errorf("an empty roster printed %q, %v", none.String(), err)
	}
}
