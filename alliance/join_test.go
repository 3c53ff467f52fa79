package alliance

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/netip"
	"reflect"
	"strings"
	"testing"

	"phalanx/charter"
	"phalanx/identity"
)

// request returns the joiner's request for tok.
func (f fixture) request(t testing.TB, tok Token) JoinRequest {
	t.Helper()
	r, err := NewJoinRequest(f.joiner, "gamma", []netip.Prefix{netip.MustParsePrefix("198.51.100.7/32")}, "198.51.100.7:7422", tok)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// admit plays the inviting daemon: it adds m to the charter, signs the
// amendment with signer and returns the reply.
func (f fixture) admit(t testing.TB, signer *identity.Identity, m charter.Member) (JoinReply, charter.Charter) {
	t.Helper()
	next, err := AddMember(&f.charter, m)
	if err != nil {
		t.Fatal(err)
	}
	a, err := NewAmendment(signer, &f.charter, &next)
	if err != nil {
		t.Fatal(err)
	}
	yaml, err := next.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return JoinReply{Charter: yaml, Amendment: a.Marshal(), RouteSecret: secret}, next
}

// TestJoin runs the whole exchange through the wire forms: token line,
// request, invite store, amendment, reply, Accept, and Verify by another
// member.
func TestJoin(t *testing.T) {
	f := newFixture(t)
	dir := t.TempDir()
	tok := f.token(t)
	if err := AddInvite(dir, tok.Invite(now)); err != nil {
		t.Fatal(err)
	}

	// The joiner.
	got, err := ParseToken(tok.String(), now)
	if err != nil {
		t.Fatal(err)
	}
	wire := f.request(t, got).Marshal()

	// The inviting daemon, which knows the invite key from the subject.
	if !ValidInvite(dir, tok.InviteKey(), now) {
		t.Fatal("invite not valid")
	}
	req, err := ParseJoinRequest(wire, tok.InviteKey())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := UseInvite(dir, tok.InviteID(), req.Member.ID, now); err != nil {
		t.Fatal(err)
	}
	reply, want := f.admit(t, f.founder, req.Member)
	replyWire := reply.Marshal()

	// The joiner again.
	back, err := ParseJoinReply(replyWire)
	if err != nil {
		t.Fatal(err)
	}
	c, a, err := back.Accept(got, f.joiner)
	if err != nil {
		t.Fatal(err)
	}
	if c.Hash() != want.Hash() || c.Version != f.charter.Version+1 {
		t.Errorf("accepted charter %s v%d, want %s v%d", c.Hash(), c.Version, want.Hash(), f.charter.Version+1)
	}
	m, _, ok := c.Member(f.joiner.ID)
	if !ok || m.Founding || m.Name != "gamma" || m.Fabric != "198.51.100.7:7422" {
		t.Errorf("joiner's entry %+v (listed %v)", m, ok)
	}

	// Every other member verifies the same amendment against the charter it holds.
	next, err := a.Verify(&f.charter)
	if err != nil {
		t.Fatal(err)
	}
	if next.Hash() != c.Hash() {
		t.Error("Verify and Accept disagree on the new charter")
	}
	// The invite is spent.
	if ValidInvite(dir, tok.InviteKey(), now) {
		t.Error("invite still valid after the join")
	}
}

func TestJoinRequestRoundTrip(t *testing.T) {
	f := newFixture(t)
	tok := f.token(t)
	tests := []struct {
		name   string
		addrs  []netip.Prefix
		fabric string
	}{
		{"full", []netip.Prefix{netip.MustParsePrefix("198.51.100.7/32"), netip.MustParsePrefix("2001:db8:7::/48")}, "198.51.100.7:7422"},
		{"no addresses", nil, "host.example:7422"},
		{"empty addresses", []netip.Prefix{}, "host.example:7422"},
		{"no fabric", nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := NewJoinRequest(f.joiner, "gamma", tt.addrs, tt.fabric, tok)
			if err != nil {
				t.Fatal(err)
			}
			b := r.Marshal()
			if bytes.Contains(b, []byte("founding")) {
				t.Errorf("request %s mentions founding", b)
			}
			got, err := ParseJoinRequest(b, tok.InviteKey())
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, r) {
				t.Errorf("round trip:\n got %+v\nwant %+v", got, r)
			}
			if got.Member.ID != f.joiner.ID {
				t.Errorf("member id %s, want %s", got.Member.ID, f.joiner.ID)
			}
		})
	}
}

func TestNewJoinRequestErrors(t *testing.T) {
	f := newFixture(t)
	tok := f.token(t)
	tests := []struct {
		name   string
		id     *identity.Identity
		label  string
		addrs  []netip.Prefix
		fabric string
		tok    Token
	}{
		{"no identity", nil, "g", nil, "", tok},
		{"no invite", f.joiner, "g", nil, "", Token{}},
		{"bad fabric", f.joiner, "g", nil, "198.51.100.7", tok},
		{"unmasked address", f.joiner, "g", []netip.Prefix{netip.MustParsePrefix("198.51.100.7/24")}, "", tok},
		{"control character in name", f.joiner, "g\x1b[31m", nil, "", tok},
		{"long name", f.joiner, strings.Repeat("g", charter.MaxNameLen+1), nil, "", tok},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := NewJoinRequest(tt.id, tt.label, tt.addrs, tt.fabric, tt.tok); err == nil {
				t.Error("no error")
			}
		})
	}
}

// jsonEdit decodes a marshaled request to a map, lets edit change it and
// encodes it again.
func jsonEdit(t testing.TB, b []byte, edit func(map[string]any)) []byte {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	edit(m)
	out, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestParseJoinRequestErrors(t *testing.T) {
	f := newFixture(t)
	tok := f.token(t)
	good := f.request(t, tok)
	b := good.Marshal()

	byStranger := good
	byStranger.Proof = f.stranger.Sign(joinProof(tok.InviteKey(), f.joiner.Public))
	otherInvite := ident(t, 30).Public
	forOtherInvite := good
	forOtherInvite.Proof = f.joiner.Sign(joinProof(otherInvite, f.joiner.Public))
	strangerKey := good // the stranger's id with the joiner's key and proof
	strangerKey.Member.ID = f.stranger.ID
	noDomain := good
	noDomain.Proof = f.joiner.Sign(append(append([]byte(nil), tok.InviteKey()...), f.joiner.Public...))

	tests := []struct {
		name   string
		in     []byte
		invite []byte
		want   error
	}{
		{"proof by another key", byStranger.Marshal(), tok.InviteKey(), ErrBadSignature},
		{"proof for another invite", forOtherInvite.Marshal(), tok.InviteKey(), ErrBadSignature},
		{"checked against another invite", b, otherInvite, ErrBadSignature},
		{"proof without domain", noDomain.Marshal(), tok.InviteKey(), ErrBadSignature},
		{"id of another key", strangerKey.Marshal(), tok.InviteKey(), ErrMalformed},
		{"no proof", jsonEdit(t, b, func(m map[string]any) { delete(m, "proof") }), tok.InviteKey(), ErrBadSignature},
		{"short proof", jsonEdit(t, b, func(m map[string]any) { m["proof"] = "AAAA" }), tok.InviteKey(), ErrBadSignature},
		{"asks to be founding", jsonEdit(t, b, func(m map[string]any) { m["founding"] = true }), tok.InviteKey(), ErrMalformed},
		{"unknown field", jsonEdit(t, b, func(m map[string]any) { m["extra"] = 1 }), tok.InviteKey(), ErrMalformed},
		{"bad public key", jsonEdit(t, b, func(m map[string]any) { m["public_key"] = "not base64" }), tok.InviteKey(), ErrMalformed},
		{"unmasked address", jsonEdit(t, b, func(m map[string]any) { m["addresses"] = []string{"198.51.100.7/24"} }), tok.InviteKey(), ErrMalformed},
		{"bad address", jsonEdit(t, b, func(m map[string]any) { m["addresses"] = []string{"198.51.100.7"} }), tok.InviteKey(), ErrMalformed},
		{"too many addresses", jsonEdit(t, b, func(m map[string]any) {
			var a []string
			for i := range charter.MaxAddresses + 1 {
				a = append(a, netip.AddrFrom4([4]byte{198, 51, 100, byte(i)}).String()+"/32")
			}
			m["addresses"] = a
		}), tok.InviteKey(), ErrMalformed},
		{"bad fabric", jsonEdit(t, b, func(m map[string]any) { m["fabric"] = "0.0.0.0:7422" }), tok.InviteKey(), ErrMalformed},
		{"control character in name", jsonEdit(t, b, func(m map[string]any) { m["name"] = "g\u0007" }), tok.InviteKey(), ErrMalformed},
		{"not an object", []byte(`[1,2]`), tok.InviteKey(), ErrMalformed},
		{"null", []byte(`null`), tok.InviteKey(), ErrMalformed},
		{"truncated", b[:len(b)-5], tok.InviteKey(), ErrMalformed},
		{"trailing data", append(bytes.Clone(b), `{}`...), tok.InviteKey(), ErrMalformed},
		{"too large", append(bytes.Clone(b), bytes.Repeat([]byte(" "), MaxJoinRequestSize)...), tok.InviteKey(), ErrMalformed},
		{"empty", nil, tok.InviteKey(), ErrMalformed},
		{"no invite key", b, nil, ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := ParseJoinRequest(tt.in, tt.invite); !errors.Is(err, tt.want) {
				t.Errorf("error %v, want %v", err, tt.want)
			}
		})
	}
}

func TestJoinReplyRoundTrip(t *testing.T) {
	f := newFixture(t)
	ok, _ := f.admit(t, f.founder, f.request(t, f.token(t)).Member)
	for _, r := range []JoinReply{ok, {Error: "invite already used: ask for a new one"}} {
		got, err := ParseJoinReply(r.Marshal())
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, r) {
			t.Errorf("round trip:\n got %+v\nwant %+v", got, r)
		}
	}
}

func TestParseJoinReplyErrors(t *testing.T) {
	f := newFixture(t)
	ok, _ := f.admit(t, f.founder, f.request(t, f.token(t)).Member)
	b := ok.Marshal()
	with := func(edit func(*JoinReply)) []byte {
		r := ok
		edit(&r)
		return r.Marshal()
	}
	tests := []struct {
		name string
		in   []byte
	}{
		{"refusal with a charter", JoinReply{Error: "no", Charter: ok.Charter}.Marshal()},
		{"refusal with a secret", JoinReply{Error: "no", RouteSecret: secret}.Marshal()},
		{"control character in error", JoinReply{Error: "no\x1b[2J"}.Marshal()},
		{"long error", JoinReply{Error: strings.Repeat("x", MaxErrorLen+1)}.Marshal()},
		{"empty object", []byte(`{}`)},
		{"no charter", with(func(r *JoinReply) { r.Charter = nil })},
		{"no amendment", with(func(r *JoinReply) { r.Amendment = nil })},
		{"bad amendment", with(func(r *JoinReply) { r.Amendment = r.Amendment[:len(r.Amendment)-1] })},
		{"no route secret", with(func(r *JoinReply) { r.RouteSecret = "" })},
		{"short route secret", with(func(r *JoinReply) { r.RouteSecret = "abc" })},
		{"route secret with a slash", with(func(r *JoinReply) { r.RouteSecret = secret + "/x" })},
		{"unknown field", jsonEdit(t, b, func(m map[string]any) { m["extra"] = 1 })},
		{"trailing data", append(bytes.Clone(b), '1')},
		{"truncated", b[:len(b)/2]},
		{"too large", append(bytes.Clone(b), bytes.Repeat([]byte(" "), MaxJoinReplySize)...)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := ParseJoinReply(tt.in); !errors.Is(err, ErrMalformed) {
				t.Errorf("error %v, want ErrMalformed", err)
			}
		})
	}
}

func TestAcceptErrors(t *testing.T) {
	f := newFixture(t)
	tok := f.token(t)
	req := f.request(t, tok)
	ok, _ := f.admit(t, f.founder, req.Member)

	// A reply whose charter adds someone else.
	other := charter.NewMember("delta", f.stranger.Public)
	lacksJoiner, _ := f.admit(t, f.founder, other)

	// The amendment signed by another founding member than the inviter.
	g := f
	g.charter = clone(&f.charter)
	g.charter.Members[1].Founding = true
	bySecond, _ := g.admit(t, f.plain, req.Member)
	tokSecond := tok // the token as g's founder made it, hash aside
	tokSecond.CharterHash = g.charter.Hash()

	// The charter field is not the amendment's charter.
	mismatch := ok
	mismatch.Charter = lacksJoiner.Charter

	// The signature is damaged.
	a, err := ParseAmendment(ok.Amendment)
	if err != nil {
		t.Fatal(err)
	}
	a.Sig = bytes.Clone(a.Sig)
	a.Sig[0] ^= 1
	badSig := ok
	badSig.Amendment = a.Marshal()

	// The token names another alliance.
	renamed := tok
	renamed.Alliance = "other-fleet"

	// The inviter is not founding in the amended charter: it demoted
	// itself while adding the joiner (after promoting the other member).
	demoted := g
	next, err := AddMember(&demoted.charter, req.Member)
	if err != nil {
		t.Fatal(err)
	}
	next.Members[0].Founding = false
	am, err := NewAmendment(f.founder, &demoted.charter, &next)
	if err != nil {
		t.Fatal(err)
	}
	yaml, _ := next.Marshal()
	notFounding := JoinReply{Charter: yaml, Amendment: am.Marshal(), RouteSecret: secret}

	// The token's inviter is a stranger whose key signed nothing here.
	strangerTok := tok
	strangerTok.Inviter = f.stranger.Public

	badSecret := ok
	badSecret.RouteSecret = "short"

	tests := []struct {
		name  string
		reply JoinReply
		tok   Token
		self  *identity.Identity
		want  error
	}{
		{"refused", JoinReply{Error: "invite already used: ask for a new one"}, tok, f.joiner, ErrRefused},
		{"charter lacks the joiner", lacksJoiner, tok, f.joiner, ErrMember},
		{"another member joins with this reply", ok, tok, f.stranger, ErrMember},
		{"signed by another founding member", bySecond, tokSecond, f.joiner, ErrNotAuthorized},
		{"inviter is a stranger", ok, strangerTok, f.joiner, ErrNotAuthorized},
		{"charter is not the amendment's", mismatch, tok, f.joiner, ErrMalformed},
		{"bad signature", badSig, tok, f.joiner, ErrBadSignature},
		{"other alliance", ok, renamed, f.joiner, ErrNotAuthorized},
		{"inviter not founding", notFounding, tok, f.joiner, ErrNotAuthorized},
		{"bad route secret", badSecret, tok, f.joiner, ErrMalformed},
		{"no identity", ok, tok, nil, ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := tt.reply.Accept(tt.tok, tt.self)
			if !errors.Is(err, tt.want) {
				t.Errorf("error %v, want %v", err, tt.want)
			}
		})
	}
	if _, _, err := ok.Accept(tok, f.joiner); err != nil {
		t.Errorf("the good reply: %v", err)
	}
}

func TestRouteSecret(t *testing.T) {
	s, err := NewRouteSecret(seedReader(7))
	if err != nil {
		t.Fatal(err)
	}
	if err := CheckRouteSecret(s); err != nil {
		t.Errorf("NewRouteSecret made %q, which CheckRouteSecret refuses: %v", s, err)
	}
	s2, err := NewRouteSecret(seedReader(8))
	if err != nil || s2 == s {
		t.Errorf("two readers gave one secret (%v)", err)
	}
	for _, bad := range []string{"", strings.Repeat("a", MinRouteSecretLen-1), strings.Repeat("a", MaxRouteSecretLen+1), strings.Repeat("a", 40) + " ", strings.Repeat("a", 40) + "@", strings.Repeat("a", 40) + "\n"} {
		if CheckRouteSecret(bad) == nil {
			t.Errorf("CheckRouteSecret(%q) accepted it", bad)
		}
	}
	if _, err := NewRouteSecret(bytes.NewReader(nil)); err == nil {
		t.Error("an empty reader gave a secret")
	}
}
