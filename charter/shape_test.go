package charter

import (
	"bytes"
	"crypto/ed25519"
	"encoding/binary"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// lines is a YAML text of head and then n lines made by line(i), cut to at
// most MaxFileSize bytes at a line end.
func lines(head string, n int, line func(i int) string) []byte {
	var b bytes.Buffer
	b.WriteString(head)
	for i := range n {
		l := line(i)
		if b.Len()+len(l) > MaxFileSize {
			break
		}
		b.WriteString(l)
	}
	return b.Bytes()
}

// TestParseRefusesCostlyShapes: documents that cost the strict YAML decoder
// far more than their size (it compares every pair of a mapping's keys;
// aliases expand) are refused before it sees them, with a message saying
// what is wrong. The times are logged, not asserted.
func TestParseRefusesCostlyShapes(t *testing.T) {
	for _, tc := range []struct {
		name, want string
		data       []byte
	}{
		// 38 s of CPU in the strict decoder before the shape check.
		{"mapping of 100,000 keys", "a mapping of", lines("", 200_000, func(i int) string { return fmt.Sprintf("k%d: 1\n", i) })},
		{"nested mapping of many keys", "a mapping of", lines("name: x\nversion: 1\npolicy:\n", 200_000, func(i int) string { return fmt.Sprintf("  k%d: 1\n", i) })},
		{"long list", "a list of", lines("name: x\nversion: 1\nmembers:\n", 200_000, func(int) string { return "  - {id: a}\n" })},
		{"alias", "no anchors or aliases", []byte("name: x\nversion: 1\nterritory: [192.0.2.0/24]\npolicy: {decisive: &t [a]}\nfleet: {scenarios: *t}\n")},
		{"anchor", "YAML anchor &t", []byte("name: &t x\nversion: 1\n")},
		{"merge key", "merge key", []byte("name: x\nversion: 1\npolicy:\n  <<: {quorum: 1}\n")},
		{"deep nesting", "nested more than", []byte("name: " + strings.Repeat("[", 5000) + strings.Repeat("]", 5000) + "\n")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			_, err := Parse(tc.data)
			t.Logf("%d bytes refused in %v", len(tc.data), time.Since(start))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want one containing %q", err, tc.want)
			}
		})
	}
}

// TestParseFleetRefusesCostlyShapes: the fleet section given on its own (an
// admin API body) gets the same shape check.
func TestParseFleetRefusesCostlyShapes(t *testing.T) {
	for _, tc := range []struct {
		name, want string
		data       []byte
	}{
		{"mapping of many keys", "a mapping of", lines("", 200_000, func(i int) string { return fmt.Sprintf("k%d: 1\n", i) })},
		{"alias", "no anchors or aliases", []byte("scenarios: &s []\nx: *s\n")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			_, err := ParseFleet(tc.data)
			t.Logf("%d bytes refused in %v", len(tc.data), time.Since(start))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want one containing %q", err, tc.want)
			}
		})
	}
}

// TestParseSeedsOfCostlyShapes parses the fuzz seeds that stand for the
// costly shapes (testdata/fuzz/FuzzParse) and expects each refused by the
// shape check.
func TestParseSeedsOfCostlyShapes(t *testing.T) {
	for name, want := range map[string]string{
		"mapping-of-1000-keys": "a mapping of 1000 keys",
		"alias-expansion":      "YAML anchor &t",
	} {
		t.Run(name, func(t *testing.T) {
			data := readSeed(t, filepath.Join("testdata", "fuzz", "FuzzParse", name))
			start := time.Now()
			_, err := Parse(data)
			t.Logf("%d bytes refused in %v", len(data), time.Since(start))
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Fatalf("err = %v, want one containing %q", err, want)
			}
		})
	}
}

// readSeed decodes a fuzz corpus file that holds one []byte value.
func readSeed(t *testing.T, path string) []byte {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	header, value, ok := strings.Cut(strings.TrimSpace(string(raw)), "\n")
	value, isBytes := strings.CutPrefix(value, "[]byte(")
	value, closed := strings.CutSuffix(value, ")")
	if !ok || header != "go test fuzz v1" || !isBytes || !closed {
		t.Fatalf("%s: not a go test fuzz v1 file of one []byte", path)
	}
	s, err := strconv.Unquote(value)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return []byte(s)
}

// TestParseAcceptsLongestLists: the shape bounds leave room for every list
// at its own limit.
func TestParseAcceptsLongestLists(t *testing.T) {
	c := three(t)
	c.Territory = nil
	for i := range MaxTerritory {
		c.Territory = append(c.Territory, netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(i >> 8), byte(i), 0}), 24))
	}
	for i := len(c.Members); i < MaxMembers; i++ {
		seed := make([]byte, ed25519.SeedSize)
		binary.BigEndian.PutUint32(seed, uint32(1000+i))
		c.Members = append(c.Members, NewMember(fmt.Sprintf("m-%d", i), ed25519.NewKeyFromSeed(seed).Public().(ed25519.PublicKey)))
	}
	out, err := c.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	back, err := Parse(out)
	t.Logf("%d bytes (%d members, %d territory prefixes) parsed in %v", len(out), MaxMembers, MaxTerritory, time.Since(start))
	if err != nil {
		t.Fatal(err)
	}
	if back.Hash() != c.Hash() {
		t.Fatal("hash changed through Marshal and Parse")
	}
}
