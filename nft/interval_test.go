package nft

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"phalanx"
)

var t0 = time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)

func at(min int) time.Time { return t0.Add(time.Duration(min) * time.Minute) }

func fmtPieces(ps []piece) string {
	var b strings.Builder
	for _, p := range ps {
		if p.until.IsZero() {
			fmt.Fprintf(&b, "%v-%v ", p.first, p.last)
			continue
		}
		fmt.Fprintf(&b, "%v-%v@%d ", p.first, p.last, int(p.until.Sub(t0)/time.Minute))
	}
	return strings.TrimSpace(b.String())
}

func TestPieces(t *testing.T) {
	for _, tc := range []struct {
		name  string
		spans map[string]int // prefix → until, in minutes after t0
		want  string
	}{
		{"empty", nil, ""},
		{"one", map[string]int{"10.0.0.0/24": 5}, "10.0.0.0-10.0.0.255@5"},
		{"disjoint", map[string]int{"10.0.2.0/24": 5, "10.0.0.0/24": 7}, "10.0.0.0-10.0.0.255@7 10.0.2.0-10.0.2.255@5"},
		{"adjacent roots stay apart", map[string]int{"10.0.0.0/25": 5, "10.0.0.128/25": 5}, "10.0.0.0-10.0.0.127@5 10.0.0.128-10.0.0.255@5"},
		{"adjacent inside one root joined", map[string]int{"10.0.0.0/24": 5, "10.0.0.0/25": 5, "10.0.0.128/26": 3}, "10.0.0.0-10.0.0.255@5"},
		{"adjacent other ends kept apart", map[string]int{"10.0.0.0/25": 5, "10.0.0.128/25": 6}, "10.0.0.0-10.0.0.127@5 10.0.0.128-10.0.0.255@6"},
		{"inner ends later: cut in three", map[string]int{"10.0.0.0/16": 5, "10.0.1.0/24": 9},
			"10.0.0.0-10.0.0.255@5 10.0.1.0-10.0.1.255@9 10.0.2.0-10.0.255.255@5"},
		{"inner ends sooner: absorbed", map[string]int{"10.0.0.0/16": 9, "10.0.1.0/24": 5}, "10.0.0.0-10.0.255.255@9"},
		{"inner at the start", map[string]int{"10.0.0.0/16": 5, "10.0.0.0/24": 9}, "10.0.0.0-10.0.0.255@9 10.0.1.0-10.0.255.255@5"},
		{"inner at the end", map[string]int{"10.0.0.0/16": 5, "10.0.255.0/24": 9}, "10.0.0.0-10.0.254.255@5 10.0.255.0-10.0.255.255@9"},
		{"three levels", map[string]int{"10.0.0.0/8": 1, "10.1.0.0/16": 2, "10.1.1.0/24": 3, "10.2.0.0/16": 1},
			"10.0.0.0-10.0.255.255@1 10.1.0.0-10.1.0.255@2 10.1.1.0-10.1.1.255@3 10.1.2.0-10.1.255.255@2 10.2.0.0-10.255.255.255@1"},
		{"two inners side by side", map[string]int{"10.0.0.0/24": 1, "10.0.0.0/26": 2, "10.0.0.64/26": 3},
			"10.0.0.0-10.0.0.63@2 10.0.0.64-10.0.0.127@3 10.0.0.128-10.0.0.255@1"},
		{"top of the space", map[string]int{"255.255.255.0/24": 1, "255.255.255.255/32": 2},
			"255.255.255.0-255.255.255.254@1 255.255.255.255-255.255.255.255@2"},
		{"whole space", map[string]int{"0.0.0.0/0": 1, "0.0.0.0/8": 2}, "0.0.0.0-0.255.255.255@2 1.0.0.0-255.255.255.255@1"},
		{"ipv6", map[string]int{"2001:db8::/32": 1, "2001:db8:1::/48": 2, "2001:db8:1:2::/64": 1},
			"2001:db8::-2001:db8:0:ffff:ffff:ffff:ffff:ffff@1 2001:db8:1::-2001:db8:1:ffff:ffff:ffff:ffff:ffff@2 2001:db8:2::-2001:db8:ffff:ffff:ffff:ffff:ffff:ffff@1"},
		{"ipv6 top", map[string]int{"::/0": 1, "ffff::/16": 2}, "::-fffe:ffff:ffff:ffff:ffff:ffff:ffff:ffff@1 ffff::-ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff@2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var spans []span
			for p, m := range tc.spans {
				spans = append(spans, span{p: netip.MustParsePrefix(p), until: at(m)})
			}
			if got := fmtPieces(pieces(spans)); got != tc.want {
				t.Errorf("pieces:\n got %s\nwant %s", got, tc.want)
			}
		})
	}
}

// FuzzPieces checks pieces against a brute-force answer over a small IPv4
// space (10.0.0.0/22): each address must get the latest end of the prefixes
// containing it, pieces must be sorted and disjoint, and neighbours with the
// same end inside one root must be joined.
func FuzzPieces(f *testing.F) {
	f.Add([]byte{24, 0, 0, 5, 26, 0, 64, 9})
	f.Add([]byte{22, 0, 0, 1, 30, 3, 252, 2, 32, 3, 255, 3})
	f.Fuzz(func(t *testing.T, data []byte) {
		const base = 10 << 24
		const size = 1 << 10
		items := map[netip.Prefix]time.Time{}
		for len(data) >= 4 && len(items) < 64 {
			bits := 22 + int(data[0])%11
			off := uint32(binary.BigEndian.Uint16(data[1:])) % size
			var a [4]byte
			binary.BigEndian.PutUint32(a[:], base+off)
			p := netip.PrefixFrom(netip.AddrFrom4(a), bits).Masked()
			items[p] = at(int(data[3]%8) + 1)
			data = data[4:]
		}
		var spans []span
		for p, u := range items {
			spans = append(spans, span{p, u})
		}
		roots := cut(spans)
		for _, r := range roots {
			if _, ok := items[r.root]; !ok {
				t.Fatalf("root %v is not an item", r.root)
			}
			for i, p := range r.pieces {
				if !r.root.Contains(p.first) || !r.root.Contains(p.last) {
					t.Fatalf("piece %s outside its root %v", fmtPieces(r.pieces[i:i+1]), r.root)
				}
				if i > 0 && r.pieces[i-1].last.Next() == p.first && r.pieces[i-1].until.Equal(p.until) {
					t.Fatalf("neighbours in root %v with the same end not joined: %s", r.root, fmtPieces(r.pieces))
				}
			}
		}
		got := flatten(roots)
		for i, p := range got {
			if p.last.Less(p.first) {
				t.Fatalf("piece %d ends before it starts: %s", i, fmtPieces(got))
			}
			if i > 0 && !got[i-1].last.Less(p.first) {
				t.Fatalf("pieces overlap or are unsorted: %s", fmtPieces(got))
			}
		}
		j := 0
		for off := uint32(0); off < size; off++ {
			var a4 [4]byte
			binary.BigEndian.PutUint32(a4[:], base+off)
			a := netip.AddrFrom4(a4)
			var want time.Time
			for p, u := range items {
				if p.Contains(a) && u.After(want) {
					want = u
				}
			}
			for j < len(got) && got[j].last.Less(a) {
				j++
			}
			var have time.Time
			if j < len(got) && !a.Less(got[j].first) {
				have = got[j].until
			}
			if !have.Equal(want) {
				t.Fatalf("%v: pieces give %v, want %v\nitems %v\npieces %s", a, have, want, items, fmtPieces(got))
			}
		}
	})
}

func TestUnion(t *testing.T) {
	v4, v6 := union([]netip.Prefix{
		netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("10.1.0.0/16"), netip.MustParsePrefix("11.0.0.0/8"),
		netip.MustParsePrefix("192.168.0.0/24"), netip.MustParsePrefix("192.168.0.0/24"),
		netip.MustParsePrefix("::1/128"), netip.MustParsePrefix("fd00::/8"), netip.MustParsePrefix("fd00:1::/32"),
	})
	if got, want := fmtPieces(v4), "10.0.0.0-11.255.255.255 192.168.0.0-192.168.0.255"; got != want {
		t.Errorf("v4 union %s, want %s", got, want)
	}
	if got, want := len(v6), 2; got != want {
		t.Errorf("v6 union %s: want %d pieces", fmtPieces(v6), want)
	}
}

func TestRangePrefixes(t *testing.T) {
	for _, tc := range []struct{ first, last, want string }{
		{"10.0.0.0", "10.0.0.255", "10.0.0.0/24"},
		{"10.0.0.1", "10.0.0.6", "10.0.0.1/32 10.0.0.2/31 10.0.0.4/31 10.0.0.6/32"},
		{"0.0.0.0", "255.255.255.255", "0.0.0.0/0"},
		{"255.255.255.254", "255.255.255.255", "255.255.255.254/31"},
		{"10.0.0.0", "10.0.2.255", "10.0.0.0/23 10.0.2.0/24"},
		{"fd00::", "fd00::ffff", "fd00::/112"},
	} {
		var got []string
		for _, p := range rangePrefixes(netip.MustParseAddr(tc.first), netip.MustParseAddr(tc.last)) {
			got = append(got, p.String())
		}
		if s := strings.Join(got, " "); s != tc.want {
			t.Errorf("rangePrefixes(%s, %s) = %s, want %s", tc.first, tc.last, s, tc.want)
		}
	}
}

func TestKernelPieces(t *testing.T) {
	now := t0
	k := func(a string, end bool, expires time.Duration) kelem {
		return kelem{key: netip.MustParseAddr(a).AsSlice(), end: end, timeout: time.Hour, expires: expires}
	}
	// As the kernel lists an rbtree: in reverse, ends and starts mixed, an
	// end and a start sharing a key where two pieces touch, the last piece
	// running to the top without an end, and a stray end at 0.0.0.0 as old
	// nft versions add.
	got := kernelPieces([]kelem{
		k("255.255.255.0", false, 3*time.Minute),
		k("10.0.1.0", true, 0), k("10.0.0.128", false, 2*time.Minute),
		k("10.0.0.128", true, 0), k("10.0.0.0", false, time.Minute),
		k("0.0.0.0", true, 0),
		{key: []byte{1, 2, 3}}, // wrong length: ignored
	}, false, now)
	want := "10.0.0.0-10.0.0.127@1 10.0.0.128-10.0.0.255@2 255.255.255.0-255.255.255.255@3"
	if s := fmtPieces(got); s != want {
		t.Errorf("kernelPieces = %s, want %s", s, want)
	}
}

func TestTarget(t *testing.T) {
	for _, tc := range []struct {
		typ, value string
		want       string // "" = not enforced
		fam        int
	}{
		{"ban", "10.0.0.1/32", "10.0.0.1/32", 0},
		{"", "10.0.0.0/24", "10.0.0.0/24", 0},
		{"Ban", "10.0.0.7/24", "10.0.0.0/24", 0},
		{"captcha", "10.0.0.1/32", "", 0},
		{"ban", "::ffff:10.0.0.1/128", "10.0.0.1/32", 0},
		{"ban", "::ffff:10.0.0.0/120", "10.0.0.0/24", 0},
		{"ban", "2001:db8::1/128", "2001:db8::1/128", 1},
		{"ban", "2001:db8::1/64", "2001:db8::/64", 1},
	} {
		d := phalanx.Decision{Type: tc.typ, Value: netip.MustParsePrefix(tc.value)}
		p, fam, ok := target(&d)
		if tc.want == "" {
			if ok {
				t.Errorf("%s %s: enforced as %v, want ignored", tc.typ, tc.value, p)
			}
			continue
		}
		if !ok || p.String() != tc.want || fam != tc.fam {
			t.Errorf("%s %s: got %v fam %d ok %v, want %s fam %d", tc.typ, tc.value, p, fam, ok, tc.want, tc.fam)
		}
	}
	if _, _, ok := target(&phalanx.Decision{Type: "ban"}); ok {
		t.Error("zero Value enforced")
	}
}

func TestTimeoutFor(t *testing.T) {
	for _, tc := range []struct {
		until time.Time
		want  time.Duration
	}{
		{t0.Add(-time.Second), 0},
		{t0, 0},
		{t0.Add(time.Microsecond), time.Millisecond},
		{t0.Add(1500 * time.Microsecond), 2 * time.Millisecond},
		{t0.Add(time.Hour), time.Hour},
		{t0.Add(100 * 365 * 24 * time.Hour), maxTimeout},
		{time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC), maxTimeout},
	} {
		if got := timeoutFor(tc.until, t0); got != tc.want {
			t.Errorf("timeoutFor(%v) = %v, want %v", tc.until, got, tc.want)
		}
	}
}

func TestDiffPieces(t *testing.T) {
	p := func(first, last string, m int) piece {
		return piece{netip.MustParseAddr(first), netip.MustParseAddr(last), at(m)}
	}
	have := []piece{p("10.0.0.0", "10.0.0.255", 1), p("10.0.2.0", "10.0.2.255", 1), p("10.0.4.0", "10.0.4.255", 1)}
	want := []piece{p("10.0.0.0", "10.0.0.255", 1), p("10.0.2.0", "10.0.2.255", 2), p("10.0.6.0", "10.0.6.255", 1)}
	stale, fresh := diffPieces(have, want)
	if got := fmtPieces(stale); got != "10.0.2.0-10.0.2.255@1 10.0.4.0-10.0.4.255@1" {
		t.Errorf("stale %s", got)
	}
	if got := fmtPieces(fresh); got != "10.0.2.0-10.0.2.255@2 10.0.6.0-10.0.6.255@1" {
		t.Errorf("fresh %s", got)
	}
	if s, f := diffPieces(want, slices.Clone(want)); len(s)+len(f) != 0 {
		t.Errorf("diff of equal lists: %s / %s", fmtPieces(s), fmtPieces(f))
	}
}
