package daemon

import (
	"net/netip"
	"reflect"
	"testing"
	"time"

	"phalanx"
	"phalanx/arbiter"
	"phalanx/report"
)

func TestBanListRoundTrip(t *testing.T) {
	until := time.Unix(1_900_000_000, 123)
	in := []peerBan{
		{Ban: arbiter.Ban{Value: netip.MustParsePrefix("203.0.113.9/32"), Origin: phalanx.OriginAlliance, Until: until},
			refs: []reportRef{{"ma", 7}, {"mb", 1 << 40}}},
		{Ban: arbiter.Ban{Value: netip.MustParsePrefix("2001:db8::/64"), Origin: phalanx.OriginManual, Until: until}},
	}
	out := []byte{1}
	for _, b := range in {
		out = appendPeerBan(out, b)
	}
	got, more, err := decodeBanList(out)
	if err != nil || !more {
		t.Fatalf("decode: more %v, err %v", more, err)
	}
	for i := range got {
		if !got[i].Until.Equal(in[i].Until) {
			t.Fatalf("ban %d ends %v, want %v", i, got[i].Until, in[i].Until)
		}
		got[i].Until = in[i].Until
	}
	if !reflect.DeepEqual(got, in) {
		t.Fatalf("decoded\n%+v\nwant\n%+v", got, in)
	}
}

func FuzzDecodeBanList(f *testing.F) {
	f.Add([]byte{0})
	f.Add(appendPeerBan([]byte{1}, peerBan{Ban: arbiter.Ban{Value: netip.MustParsePrefix("203.0.113.9/32"), Origin: "alliance", Until: time.Unix(2e9, 0)},
		refs: []reportRef{{"m", 3}}}))
	f.Add([]byte{0, 5, 203, 0, 113, 9, 32, 0, 0, 0, 0, 0, 0, 0, 0, 0, 255})
	f.Fuzz(func(t *testing.T, raw []byte) {
		bans, _, err := decodeBanList(raw)
		if err != nil {
			return
		}
		if len(bans) > len(raw)/12 {
			t.Fatalf("%d bans from %d bytes", len(bans), len(raw))
		}
		for _, b := range bans {
			if !b.Value.IsValid() || len(b.refs) > maxRefs {
				t.Fatalf("ban %+v", b)
			}
			for _, r := range b.refs {
				if r.member == "" {
					t.Fatal("a reference without a member")
				}
			}
		}
	})
}

// TestBanRefs: the reports behind a value's bans are kept in the order
// judged (a quorum's votes before its deciding report), and only while
// they are behind the ban the arbiter keeps.
func TestBanRefs(t *testing.T) {
	var x digestRepair
	v := netip.MustParsePrefix("203.0.113.9/32")
	t0 := time.Unix(1_900_000_000, 0)
	rep := func(member string, seq uint64) *report.Report {
		return &report.Report{Member: member, Seq: seq, Type: report.TypeAlert, Time: t0, Scenario: "s", Value: v}
	}
	dec := func(start time.Time, d time.Duration) phalanx.Decision {
		return phalanx.Decision{Value: v, Origin: phalanx.OriginAlliance, Start: start, Until: start.Add(d)}
	}
	vote := rep("ma", 1)
	x.note(vote, arbiter.Outcome{Verdict: arbiter.Pending, Reports: []string{vote.ID()}})
	decider := rep("mb", 4)
	x.note(decider, arbiter.Outcome{Verdict: arbiter.Decided, Reason: arbiter.ReasonQuorum,
		Decision: dec(t0, time.Hour), Reports: []string{vote.ID(), decider.ID()}})
	ban := arbiter.Ban{Value: v, Until: t0.Add(time.Hour)}
	if got, want := x.refsFor(ban), []reportRef{{"ma", 1}, {"mb", 4}}; !reflect.DeepEqual(got, want) {
		t.Fatalf("refs %v, want %v", got, want)
	}
	// A later, longer ban is the one kept; its report follows.
	x.note(rep("mc", 9), arbiter.Outcome{Verdict: arbiter.Decided, Reason: arbiter.ReasonDecisive, Decision: dec(t0.Add(2*time.Hour), 8*time.Hour)})
	if got := x.refsFor(ban); got != nil {
		t.Fatalf("refs %v for a ban no longer kept", got)
	}
	ban.Until = t0.Add(10 * time.Hour)
	if got, want := x.refsFor(ban), []reportRef{{"ma", 1}, {"mb", 4}, {"mc", 9}}; !reflect.DeepEqual(got, want) {
		t.Fatalf("refs %v, want %v", got, want)
	}
	// A fleet ban kept for the value cannot be judged again.
	x.note(rep("md", 2), arbiter.Outcome{Verdict: arbiter.Sighted, Fleet: []arbiter.FleetBan{{Decision: dec(t0.Add(3*time.Hour), 9*time.Hour)}}})
	if got := x.refsFor(arbiter.Ban{Value: v, Until: t0.Add(12 * time.Hour)}); got != nil {
		t.Fatalf("refs %v for a fleet ban", got)
	}
	// A pardon forgets them.
	x.note(rep("ma", 5), arbiter.Outcome{Verdict: arbiter.Pardoned, Pardon: netip.MustParsePrefix("203.0.113.0/24")})
	if _, ok := x.bans[v]; ok {
		t.Fatal("refs kept after a pardon")
	}
}
