package alliance

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"phalanx/identity"
)

func TestTokenRoundTrip(t *testing.T) {
	f := newFixture(t)
	tok := f.token(t)
	s := tok.String()
	if !strings.HasPrefix(s, TokenPrefix) || strings.ContainsAny(s, " \t\r\n=+/") {
		t.Fatalf("token line %q is not one unpadded base64url line after %q", s, TokenPrefix)
	}
	if len(s) > MaxTokenLen {
		t.Fatalf("token line of %d characters exceeds MaxTokenLen %d", len(s), MaxTokenLen)
	}
	for _, in := range []string{s, "  " + s + "\r\n", "\n\t" + s + "\n"} {
		got, err := ParseToken(in, now)
		if err != nil {
			t.Fatalf("ParseToken(%q): %v", in, err)
		}
		if !reflect.DeepEqual(got, tok) {
			t.Errorf("round trip:\n got %#v\nwant %#v", got, tok)
		}
	}
	if tok.Alliance != f.charter.Name || tok.CharterHash != f.charter.Hash() {
		t.Errorf("token names %s/%s, want %s/%s", tok.Alliance, tok.CharterHash, f.charter.Name, f.charter.Hash())
	}
	if !tok.Inviter.Equal(f.founder.Public) {
		t.Error("token's inviter is not the founder's key")
	}
	want := []string{"192.0.2.1:7422", "[2001:db8::1]:7422"}
	if !reflect.DeepEqual(tok.Fabric, want) {
		t.Errorf("fabric %q, want %q", tok.Fabric, want)
	}
}

// TestTokenGolden pins the token format: a line printed by one version
// must parse in the next. Regenerate with -update only for a new format.
func TestTokenGolden(t *testing.T) {
	f := newFixture(t)
	got := f.token(t).String() + "\n"
	golden := filepath.Join("testdata", "token.golden")
	if *update {
		if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test -update once to create it)", err)
	}
	if got != string(want) {
		t.Errorf("token line changed:\n got %s\nwant %s", got, want)
	}
	if _, err := ParseToken(string(want), now); err != nil {
		t.Errorf("golden token does not parse: %v", err)
	}
}

func TestNewTokenNormalisesFabric(t *testing.T) {
	f := newFixture(t)
	tok, err := NewToken(f.founder, &f.charter, []string{"192.0.2.1:07422", "192.0.2.1:7422", "host.example:1"}, now.Add(time.Hour+time.Second/2), seedReader(1))
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"192.0.2.1:7422", "host.example:1"}; !reflect.DeepEqual(tok.Fabric, want) {
		t.Errorf("fabric %q, want %q", tok.Fabric, want)
	}
	if !tok.Expires.Equal(now.Add(time.Hour)) {
		t.Errorf("expires %v, want %v (whole seconds)", tok.Expires, now.Add(time.Hour))
	}
	if _, err := ParseToken(tok.String(), now); err != nil {
		t.Error(err)
	}
}

func TestNewTokenErrors(t *testing.T) {
	f := newFixture(t)
	exp := now.Add(time.Hour)
	tests := []struct {
		name    string
		inviter *identity.Identity
		fabric  []string
		rand    func() *bytes.Reader
		want    error
	}{
		{"not founding", f.plain, []string{"192.0.2.1:7422"}, nil, ErrNotAuthorized},
		{"stranger", f.stranger, []string{"192.0.2.1:7422"}, nil, ErrNotAuthorized},
		{"no fabric", f.founder, nil, nil, ErrMalformed},
		{"too many fabric", f.founder, manyAddrs(MaxTokenFabric + 1), nil, ErrMalformed},
		{"bad fabric", f.founder, []string{"192.0.2.1"}, nil, nil},
		{"short rand", f.founder, []string{"192.0.2.1:7422"}, func() *bytes.Reader { return bytes.NewReader(make([]byte, 31)) }, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := seedReader(5)
			if tt.rand != nil {
				r = tt.rand()
			}
			_, err := NewToken(tt.inviter, &f.charter, tt.fabric, exp, r)
			if err == nil {
				t.Fatal("no error")
			}
			if tt.want != nil && !errors.Is(err, tt.want) {
				t.Errorf("error %v does not wrap %v", err, tt.want)
			}
		})
	}
	if _, err := NewToken(f.founder, &f.charter, []string{"192.0.2.1:7422"}, exp, iotest.ErrReader(errors.New("no entropy"))); err == nil {
		t.Error("a failing rand gave no error")
	}
}

func manyAddrs(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("192.0.2.%d:7422", i+1)
	}
	return out
}

// resign returns the line of t signed by id, whatever its fields.
func resign(t Token, id *identity.Identity) string {
	t.Sig = id.Sign(t.signed())
	return t.String()
}

// raw returns the decoded bytes of a token line.
func raw(t testing.TB, s string) []byte {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(strings.TrimPrefix(s, TokenPrefix))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func line(b []byte) string { return TokenPrefix + base64.RawURLEncoding.EncodeToString(b) }

func TestParseTokenErrors(t *testing.T) {
	f := newFixture(t)
	tok := f.token(t)
	s := tok.String()
	b := raw(t, s)
	flipped := bytes.Clone(b)
	flipped[len(flipped)/2] ^= 0x01
	trailing := append(bytes.Clone(b[:len(b)-64]), 0)
	trailing = append(trailing, f.founder.Sign(append([]byte(tokenDomain), trailing...))...)

	other := tok
	other.Inviter = f.stranger.Public // signed by the founder, claims the stranger
	badTime := tok
	badTime.Expires = time.Date(2300, 1, 1, 0, 0, 0, 0, time.UTC)
	noFabric := tok
	noFabric.Fabric = nil
	dupFabric := tok
	dupFabric.Fabric = []string{"192.0.2.1:7422", "192.0.2.1:7422"}
	oddFabric := tok
	oddFabric.Fabric = []string{"192.0.2.1:07422"}
	badName := tok
	badName.Alliance = "bad name"
	shortSeed := tok
	shortSeed.InviteSeed = shortSeed.InviteSeed[:31]
	v2 := bytes.Clone(b)
	v2[0] = 2

	tests := []struct {
		name string
		in   string
		now  time.Time
		want error
	}{
		{"expired exactly", s, tok.Expires, ErrTokenExpired},
		{"expired", s, tok.Expires.Add(time.Hour), ErrTokenExpired},
		{"tampered byte", line(flipped), now, nil},
		{"wrong prefix", "phx2." + strings.TrimPrefix(s, TokenPrefix), now, ErrMalformed},
		{"upper-case prefix", strings.ToUpper(TokenPrefix) + strings.TrimPrefix(s, TokenPrefix), now, ErrMalformed},
		{"no prefix", strings.TrimPrefix(s, TokenPrefix), now, ErrMalformed},
		{"empty", "", now, ErrMalformed},
		{"truncated line", s[:len(s)-10], now, nil},
		{"truncated bytes", line(b[:len(b)-1]), now, nil},
		{"only the prefix", TokenPrefix, now, ErrMalformed},
		{"padded base64", s + "=", now, ErrMalformed},
		{"std base64 characters", s[:len(s)-1] + "+", now, ErrMalformed},
		{"space inside", s[:20] + " " + s[20:], now, ErrMalformed},
		{"line break inside", s[:80] + "\n" + s[80:], now, ErrMalformed},
		{"carriage return inside", s[:80] + "\r\n" + s[80:], now, ErrMalformed},
		{"too long", s + strings.Repeat("A", MaxTokenLen), now, ErrMalformed},
		{"bad signature", resign(tok, f.stranger), now, ErrBadSignature},
		{"signed by another key than inviter", resign(other, f.founder), now, ErrBadSignature},
		{"trailing byte", line(trailing), now, ErrMalformed},
		{"version 2", line(v2), now, ErrMalformed},
		{"expiry out of range", resign(badTime, f.founder), now, ErrMalformed},
		{"no fabric", resign(noFabric, f.founder), now, ErrMalformed},
		{"repeated fabric", resign(dupFabric, f.founder), now, ErrMalformed},
		{"non-canonical fabric", resign(oddFabric, f.founder), now, ErrMalformed},
		{"bad alliance name", resign(badName, f.founder), now, ErrMalformed},
		{"short seed", resign(shortSeed, f.founder), now, ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseToken(tt.in, tt.now)
			if err == nil {
				t.Fatal("no error")
			}
			if tt.want != nil && !errors.Is(err, tt.want) {
				t.Errorf("error %v does not wrap %v", err, tt.want)
			}
			if !strings.Contains(err.Error(), "new invite") {
				t.Errorf("error %q does not say to ask for a new invite", err)
			}
		})
	}
}

// TestParseTokenEveryByte flips each bit position's byte of a valid token:
// no damaged token may parse.
func TestParseTokenEveryByte(t *testing.T) {
	f := newFixture(t)
	b := raw(t, f.token(t).String())
	for i := range b {
		for _, mask := range []byte{0x01, 0x80, 0xff} {
			d := bytes.Clone(b)
			d[i] ^= mask
			if got, err := ParseToken(line(d), now); err == nil {
				t.Fatalf("byte %d ^ %#x: accepted %#v", i, mask, got)
			}
		}
	}
}

func TestTokenInviteKey(t *testing.T) {
	f := newFixture(t)
	tok := f.token(t)
	want := ed25519.NewKeyFromSeed(tok.InviteSeed).Public().(ed25519.PublicKey)
	if !tok.InviteKey().Equal(want) {
		t.Error("InviteKey is not the seed's public key")
	}
	if tok.InviteID() != identity.MemberID(want) {
		t.Errorf("InviteID %s, want %s", tok.InviteID(), identity.MemberID(want))
	}
	other, err := NewToken(f.founder, &f.charter, []string{"192.0.2.1:7422"}, now.Add(time.Hour), seedReader(10))
	if err != nil {
		t.Fatal(err)
	}
	if other.InviteID() == tok.InviteID() {
		t.Error("two seeds gave one invite id")
	}
	var zero Token
	if zero.InviteKey() != nil || zero.InviteID() != "" {
		t.Error("the zero token has an invite key")
	}
	inv := tok.Invite(now)
	if inv.ID != tok.InviteID() || !bytes.Equal(inv.PublicKey, want) || !inv.Expires.Equal(tok.Expires) || !inv.Created.Equal(now) {
		t.Errorf("Invite() = %+v", inv)
	}
}

func TestTokenGoStringHidesSeed(t *testing.T) {
	f := newFixture(t)
	tok := f.token(t)
	out := fmt.Sprintf("%#v", tok)
	if strings.Contains(out, fmt.Sprint(tok.InviteSeed)) || strings.Contains(out, base64.StdEncoding.EncodeToString(tok.InviteSeed)) {
		t.Errorf("%%#v shows the seed: %s", out)
	}
	if !strings.Contains(out, tok.InviteID()) {
		t.Errorf("%%#v does not name the invite: %s", out)
	}
}

func TestTokenLogHidesSeed(t *testing.T) {
	f := newFixture(t)
	tok := f.token(t)
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("invite", "token", tok)
	out := buf.String()
	if strings.Contains(out, strings.TrimPrefix(tok.String(), TokenPrefix)[:40]) || strings.Contains(out, base64.StdEncoding.EncodeToString(tok.InviteSeed)) {
		t.Errorf("log shows the token: %s", out)
	}
	if !strings.Contains(out, tok.InviteID()) {
		t.Errorf("log does not name the invite: %s", out)
	}
}

func TestSignatureDomainsDistinct(t *testing.T) {
	domains := []string{tokenDomain, joinDomain, amendmentDomain}
	for i, a := range domains {
		for j, b := range domains {
			if i != j && strings.HasPrefix(a, b) {
				t.Errorf("domain %q starts with domain %q", a, b)
			}
		}
	}
	// A token signature is no amendment signature: sign the token's body as
	// it would be signed, and check it under the amendment domain.
	f := newFixture(t)
	tok := f.token(t)
	body := tok.body()
	if ed25519.Verify(f.founder.Public, append([]byte(amendmentDomain), body...), tok.Sig) {
		t.Error("token signature verifies under the amendment domain")
	}
}
