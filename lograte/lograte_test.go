package lograte

import (
	"testing"
	"time"
)

func TestLimit(t *testing.T) {
	l := &Limit{Interval: time.Minute, Burst: 2}
	t0 := time.Date(2026, 12, 6, 0, 0, 0, 0, time.UTC)
	for i, want := range []bool{true, true, false, false, false} {
		if ok, _ := l.Allow(t0.Add(time.Duration(i) * time.Second)); ok != want {
			t.Fatalf("message %d: allowed %v, want %v", i, ok, want)
		}
	}
	ok, held := l.Allow(t0.Add(time.Minute))
	if !ok || held != 3 {
		t.Fatalf("next interval: allowed %v, held %d; want true and the 3 held back", ok, held)
	}
	if _, held := l.Allow(t0.Add(time.Minute + time.Second)); held != 0 {
		t.Fatalf("held %d after it was reported, want 0", held)
	}
}
