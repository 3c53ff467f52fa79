package report

import (
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"
)

func batch() Report {
	return Report{
		Seq: 11, Time: t0, Type: TypeBatch, Scenario: "import",
		Reasons: []string{"", "abuse list 2026-03"},
		Batch: []BatchEntry{
			{Value: netip.MustParsePrefix("192.0.2.7/32"), Duration: 4 * time.Hour, Reason: 1},
			{Value: netip.MustParsePrefix("198.51.100.0/24"), Reason: 0},
			{Value: netip.MustParsePrefix("2001:db8::1/128"), Duration: time.Second, Reason: 1},
			{Value: netip.MustParsePrefix("2001:db8:1::/48"), Duration: MaxDuration, Reason: 0},
		},
	}
}

func TestBatchRoundTrip(t *testing.T) {
	r := signed(t, batch())
	if err := r.Validate(); err != nil {
		t.Fatal(err)
	}
	wire := Marshal(&r)
	got, err := Unmarshal(wire)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(Marshal(&got), wire) {
		t.Fatal("re-marshal differs")
	}
	if got.Type != TypeBatch || got.Scenario != "import" || fmt.Sprint(got.Reasons) != fmt.Sprint(r.Reasons) ||
		fmt.Sprint(got.Batch) != fmt.Sprint(r.Batch) || !got.Time.Equal(t0) || got.Seq != 11 {
		t.Errorf("decoded %+v, want %+v", got, r)
	}
	if err := got.Verify(testIdentity(t, 1).Public); err != nil {
		t.Error(err)
	}
	if TypeBatch.String() != "batch" {
		t.Errorf("TypeBatch is %q", TypeBatch)
	}
}

func TestBatchValidate(t *testing.T) {
	for _, c := range []struct {
		name string
		mod  func(*Report)
		want *Error
	}{
		{"no entries", func(r *Report) { r.Batch = nil }, ErrMalformed},
		{"no scenario", func(r *Report) { r.Scenario = "" }, ErrMalformed},
		{"a value of its own", func(r *Report) { r.Value = netip.MustParsePrefix("192.0.2.1/32") }, ErrMalformed},
		{"a reason of its own", func(r *Report) { r.Reason = "x" }, ErrMalformed},
		{"a duration of its own", func(r *Report) { r.Duration = time.Hour }, ErrMalformed},
		{"evidence", func(r *Report) { r.Evidence = []string{"x"} }, ErrMalformed},
		{"unsorted", func(r *Report) { r.Batch[0], r.Batch[1] = r.Batch[1], r.Batch[0] }, ErrMalformed},
		{"repeated", func(r *Report) { r.Batch[1].Value = r.Batch[0].Value }, ErrMalformed},
		{"reason out of range", func(r *Report) { r.Batch[2].Reason = 2 }, ErrMalformed},
		{"reason with a control character", func(r *Report) { r.Reasons[1] = "a\x1b[2Jb" }, ErrBadText},
		{"mapped address", func(r *Report) { r.Batch[2].Value = netip.MustParsePrefix("::ffff:192.0.2.200/128") }, ErrBadPrefix},
		{"host bits", func(r *Report) { r.Batch[1].Value = netip.PrefixFrom(netip.MustParseAddr("198.51.100.1"), 24) }, ErrBadPrefix},
		{"fraction of a second", func(r *Report) { r.Batch[0].Duration = 1500 * time.Millisecond }, ErrLimit},
		{"too long", func(r *Report) { r.Batch[0].Duration = MaxDuration + time.Second }, ErrLimit},
		{"too many entries", func(r *Report) {
			r.Batch = nil
			for i := range MaxBatchEntries + 1 {
				r.Batch = append(r.Batch, BatchEntry{Value: netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)}), 32)})
			}
		}, ErrLimit},
		{"too large", func(r *Report) {
			r.Batch = nil
			for i := range 2000 {
				r.Batch = append(r.Batch, BatchEntry{Value: netip.PrefixFrom(netip.AddrFrom16([16]byte{0x20, 1, 13: byte(i >> 8), 15: byte(i)}), 128)})
			}
		}, ErrTooLarge},
		{"batch fields on a manual ban", func(r *Report) { *r = manual(); r.Reasons = []string{"x"} }, ErrMalformed},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := batch()
			c.mod(&r)
			r = signed(t, r)
			err := r.Validate()
			if !errors.Is(err, c.want) {
				t.Fatalf("Validate: %v, want %v", err, c.want)
			}
			// What Validate refuses, Unmarshal refuses too, when the
			// encoding carries it (a batch's encoding has no field for a
			// value, reason or duration of its own, nor for fractions of a
			// second).
			if _, err := Unmarshal(Marshal(&r)); err == nil && !strings.Contains("a value of its own|a reason of its own|a duration of its own|evidence|fraction of a second|batch fields on a manual ban", c.name) {
				t.Errorf("Unmarshal accepted it")
			}
		})
	}
}

// TestPackBatch packs rows into batches that each validate, fit the size
// limit, keep the rows' order and values, and share reasons.
func TestPackBatch(t *testing.T) {
	id := testIdentity(t, 1)
	for _, c := range []struct {
		name    string
		n       int
		v6      bool
		reasons int
		min     int // at least this many reports
	}{
		{"IPv4, one reason", 10000, false, 1, 4},
		{"IPv6, one reason", 5000, true, 1, 4},
		{"IPv4, a reason each", 1000, false, 1000, 4},
		{"IPv4, a few reasons", 3000, false, 7, 2},
		{"one row", 1, false, 1, 1},
	} {
		t.Run(c.name, func(t *testing.T) {
			var rows []BatchRow
			for i := range c.n {
				a := netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
				if c.v6 {
					a = netip.AddrFrom16([16]byte{0x20, 1, 13: byte(i >> 16), 14: byte(i >> 8), 15: byte(i)})
				}
				rows = append(rows, BatchRow{Value: netip.PrefixFrom(a, a.BitLen()), Duration: time.Duration(i) * time.Millisecond,
					Reason: fmt.Sprintf("reason %d %s", i%c.reasons, strings.Repeat("x", i%c.reasons%40))})
			}
			reps := PackBatch("import", rows, len(id.ID))
			if len(reps) < c.min {
				t.Errorf("%d reports, want at least %d", len(reps), c.min)
			}
			k := 0
			for i := range reps {
				r := &reps[i]
				r.Seq, r.Time = uint64(i+1), t0
				r.Sign(id)
				if err := r.Validate(); err != nil {
					t.Fatalf("report %d: %v", i, err)
				}
				if n := len(Marshal(r)); n > MaxSize {
					t.Fatalf("report %d: %d bytes", i, n)
				}
				if i < len(reps)-1 && len(Marshal(r)) < MaxSize/2 && len(r.Batch) < MaxBatchEntries && len(r.Reasons) < MaxBatchReasons {
					t.Errorf("report %d is only %d bytes with %d entries: batches should be full", i, len(Marshal(r)), len(r.Batch))
				}
				for _, e := range r.Batch {
					row := rows[k]
					want := (row.Duration + time.Second - 1) / time.Second * time.Second
					if e.Value != row.Value || e.Duration != want || r.Reasons[e.Reason] != row.Reason {
						t.Fatalf("entry %d: %+v (reason %q), want %+v", k, e, r.Reasons[e.Reason], row)
					}
					k++
				}
			}
			if k != c.n {
				t.Errorf("%d entries packed, want %d", k, c.n)
			}
		})
	}
}
