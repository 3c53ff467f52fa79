package alliance

import (
	"bytes"
	"flag"
	"net/netip"
	"testing"
	"time"

	"phalanx/charter"
	"phalanx/identity"
)

var update = flag.Bool("update", false, "rewrite golden files under testdata/")

// now is the fixed clock of the tests.
var now = time.Date(2030, 6, 1, 12, 0, 0, 0, time.UTC)

// ident returns the identity with the seed of 32 bytes n.
func ident(t testing.TB, n byte) *identity.Identity {
	t.Helper()
	id, err := identity.FromSeed(bytes.Repeat([]byte{n}, 32))
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// fixture is a two-member alliance: founder (founding, inviter) and
// plain (not founding), with a joiner and a stranger outside it.
type fixture struct {
	founder, plain, joiner, stranger *identity.Identity
	charter                          charter.Charter
}

func newFixture(t testing.TB) fixture {
	t.Helper()
	f := fixture{founder: ident(t, 1), plain: ident(t, 2), joiner: ident(t, 3), stranger: ident(t, 4)}
	founder := charter.NewMember("alpha", f.founder.Public, netip.MustParsePrefix("192.0.2.1/32"))
	founder.Fabric = "192.0.2.1:7422"
	c := charter.Default("example-fleet", founder)
	c.Fleet = nil // a charter from before fleet sections: the golden token pins its hash
	plain := charter.NewMember("beta", f.plain.Public, netip.MustParsePrefix("192.0.2.2/32"))
	c.Members = append(c.Members, plain)
	c.Version = 2
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	f.charter = c
	return f
}

// seedReader returns a reader of endless bytes b, a reproducible rand.
func seedReader(b byte) *bytes.Reader {
	return bytes.NewReader(bytes.Repeat([]byte{b}, 1024))
}

// token returns a token by the founder, expiring a day after now.
func (f fixture) token(t testing.TB) Token {
	t.Helper()
	tok, err := NewToken(f.founder, &f.charter, []string{"192.0.2.1:7422", "[2001:db8::1]:7422"}, now.Add(24*time.Hour), seedReader(9))
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// secret is a valid route secret.
const secret = "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3JldA"
