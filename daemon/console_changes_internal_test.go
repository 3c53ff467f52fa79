package daemon

import (
	"slices"
	"strings"
	"testing"

	"phalanx/charter"
)

// TestCharterChangesNamesBouncers: the console's charter history names an
// alliance bouncer key added, replaced and deleted.
func TestCharterChangesNamesBouncers(t *testing.T) {
	a := charter.Charter{}
	b := charter.Charter{Bouncers: []charter.Bouncer{{Name: "fw-1", SHA256: strings.Repeat("ab", 32)}}}
	c := charter.Charter{Bouncers: []charter.Bouncer{{Name: "fw-1", SHA256: strings.Repeat("cd", 32)}}}
	for _, tc := range []struct {
		prev, next *charter.Charter
		want       string
	}{
		{&a, &b, "alliance bouncer key fw-1 added"},
		{&b, &c, "alliance bouncer key fw-1 replaced"},
		{&c, &a, "alliance bouncer key fw-1 deleted"},
	} {
		if got := charterChanges(tc.prev, tc.next); !slices.Contains(got, tc.want) {
			t.Errorf("changes %v, want %q among them", got, tc.want)
		}
	}
}
