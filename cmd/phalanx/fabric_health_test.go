package main

import (
	"strings"
	"testing"
	"time"

	"phalanx/daemon"
)

// TestFabricHealthLine: status says "ok", or the problem, and the
// restarts the fabric's health watch made, with the last one's reason.
func TestFabricHealthLine(t *testing.T) {
	at := time.Date(2026, 12, 7, 1, 2, 3, 0, time.Local)
	for _, tc := range []struct {
		h    daemon.FabricHealth
		want []string
		not  []string
	}{
		{daemon.FabricHealth{OK: true}, []string{"ok"}, []string{"PROBLEM", "restarts"}},
		{daemon.FabricHealth{Problem: "JetStream is off", Since: &at}, []string{"PROBLEM: JetStream is off", "since 2026-12-07 01:02:03"}, []string{"restarts"}},
		{daemon.FabricHealth{OK: true, Restarts: 2, Failed: 1, LastRestart: &at, LastReason: "store or Raft error: x"},
			[]string{"ok; 2 server restarts (1 failed), last 2026-12-07 01:02:03: store or Raft error: x"}, []string{"PROBLEM"}},
	} {
		got := fabricHealthLine(tc.h)
		for _, w := range tc.want {
			if !strings.Contains(got, w) {
				t.Errorf("fabricHealthLine(%+v) = %q, want %q in it", tc.h, got, w)
			}
		}
		for _, n := range tc.not {
			if strings.Contains(got, n) {
				t.Errorf("fabricHealthLine(%+v) = %q, want no %q", tc.h, got, n)
			}
		}
	}
}
