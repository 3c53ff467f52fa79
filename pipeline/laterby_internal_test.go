package pipeline

import (
	"math/rand/v2"
	"testing"
	"time"
)

// TestLaterBy: laterBy answers as time.Time.Sub does for times less than
// 292 years apart, at the edges of a second and of the tolerance too.
func TestLaterBy(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	base := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	pick := func() time.Time {
		switch r.IntN(3) {
		case 0:
			return base.Add(time.Duration(r.Int64N(int64(10 * time.Second))))
		case 1:
			return base.Add(time.Duration(r.IntN(20)) * time.Second / 2)
		}
		return base.Add(time.Duration(r.Int64N(int64(200*365*24*time.Hour))) - 100*365*24*time.Hour)
	}
	for range 500000 {
		a, b := pick(), pick()
		d := []time.Duration{0, time.Minute, 1500 * time.Millisecond, time.Duration(r.Int64N(int64(5 * time.Second))), time.Second}[r.IntN(5)]
		if got, want := laterBy(a, b, d), a.Sub(b) > d; got != want {
			t.Fatalf("laterBy(%v, %v, %v) = %v, Sub says %v", a, b, d, got, want)
		}
	}
	far := time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC)
	if !laterBy(far, time.Time{}, time.Minute) || laterBy(time.Time{}, far, time.Minute) {
		t.Fatal("laterBy gets times thousands of years apart wrong")
	}
}
