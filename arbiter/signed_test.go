package arbiter

import (
	"reflect"
	"testing"
	"time"
)

// TestApplySigned: a report the caller signed itself is judged as Apply
// judges it, on every count (decision, digest, replay), without its
// signature checked again; ApplySigned is for reports the caller has
// compared byte for byte, and Apply still refuses a broken signature.
func TestApplySigned(t *testing.T) {
	f := newFixture(t)
	checked, trusted := New(&f.c), New(&f.c)
	for i, v := range []string{"203.0.113.1/32", "203.0.113.2/32", "203.0.113.1/32"} {
		r := f.alert(f.b, v, "ssh-bf", t0.Add(time.Duration(i)*time.Minute))
		o1, o2 := checked.Apply(r, r.Time, r.Time), trusted.ApplySigned(r, r.Time, r.Time)
		if !reflect.DeepEqual(o1, o2) {
			t.Fatalf("report %d: Apply %+v, ApplySigned %+v", i, o1, o2)
		}
		expect(t, trusted.ApplySigned(r, r.Time, r.Time), Rejected, ReasonReplayed)
	}
	at := t0.Add(10 * time.Minute)
	d1, n1 := checked.Digest(at)
	d2, n2 := trusted.Digest(at)
	if d1 != d2 || n1 != n2 || n1 == 0 {
		t.Fatalf("digests differ: %x (%d) and %x (%d)", d1, n1, d2, n2)
	}
	r := f.alert(f.b, "203.0.113.3/32", "ssh-bf", t0.Add(5*time.Minute))
	r.Reason = "changed after signing"
	expect(t, checked.Apply(r, r.Time, r.Time), Rejected, ReasonBadSignature)
}
