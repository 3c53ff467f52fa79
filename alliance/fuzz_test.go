package alliance

import (
	"bytes"
	"reflect"
	"strings"
	"testing"
)

// fuzzSeeds returns valid wire forms of every format, made by the fixture.
func fuzzSeeds(t testing.TB) (tok Token, req JoinRequest, reply JoinReply, a Amendment) {
	f := newFixture(t)
	tok = f.token(t)
	req = f.request(t, tok)
	reply, _ = f.admit(t, f.founder, req.Member)
	a, err := ParseAmendment(reply.Amendment)
	if err != nil {
		t.Fatal(err)
	}
	return tok, req, reply, a
}

func FuzzParseToken(f *testing.F) {
	tok, _, _, _ := fuzzSeeds(f)
	s := tok.String()
	f.Add(s)
	f.Add(" " + s + "\n")
	f.Add(s[:len(s)-3])
	f.Add(TokenPrefix)
	f.Add(TokenPrefix + "AQ")
	f.Add("")
	f.Fuzz(func(t *testing.T, in string) {
		got, err := ParseToken(in, now)
		if err != nil {
			return
		}
		if got.String() != strings.TrimSpace(in) {
			t.Fatalf("accepted %q but it re-encodes to %q", in, got.String())
		}
		back, err := ParseToken(got.String(), now)
		if err != nil || !reflect.DeepEqual(back, got) {
			t.Fatalf("re-parse: %v\n got %#v\nwant %#v", err, back, got)
		}
	})
}

func FuzzParseJoinRequest(f *testing.F) {
	tok, req, _, _ := fuzzSeeds(f)
	f.Add(req.Marshal())
	f.Add([]byte(`{"id":"m0000000000000000","public_key":"","proof":""}`))
	f.Add([]byte(`{"addresses":["192.0.2.1/32","::/0"],"fabric":"[::1]:1"}`))
	f.Add([]byte(`null`))
	invite := tok.InviteKey()
	f.Fuzz(func(t *testing.T, in []byte) {
		got, err := ParseJoinRequest(in, invite)
		if err != nil {
			return
		}
		back, err := ParseJoinRequest(got.Marshal(), invite)
		if err != nil || !reflect.DeepEqual(back, got) {
			t.Fatalf("re-parse: %v\n got %+v\nwant %+v", err, back, got)
		}
		if got.Member.Founding {
			t.Fatal("accepted a founding member")
		}
	})
}

func FuzzParseJoinReply(f *testing.F) {
	_, _, reply, _ := fuzzSeeds(f)
	f.Add(reply.Marshal())
	f.Add(JoinReply{Error: "invite already used: ask for a new one"}.Marshal())
	c := newChain(f)
	f.Add(JoinReply{Charter: reply.Charter, Amendment: c.a3.Marshal(), RouteSecret: secret, History: &c.history}.Marshal())
	f.Add([]byte(`{"error":"x","charter":""}`))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, in []byte) {
		got, err := ParseJoinReply(in)
		if err != nil {
			return
		}
		back, err := ParseJoinReply(got.Marshal())
		if err != nil || !reflect.DeepEqual(back, got) {
			t.Fatalf("re-parse: %v\n got %+v\nwant %+v", err, back, got)
		}
	})
}

func FuzzParseAmendment(f *testing.F) {
	_, _, _, a := fuzzSeeds(f)
	b := a.Marshal()
	f.Add(b)
	f.Add(b[:40])
	f.Add([]byte{1})
	small := a
	small.Charter = []byte("name: x\n")
	f.Add(small.Marshal())
	cur := newFixture(f).charter
	f.Fuzz(func(t *testing.T, in []byte) {
		got, err := ParseAmendment(in)
		if err != nil {
			return
		}
		if out := got.Marshal(); !bytes.Equal(out, in) {
			t.Fatalf("accepted %x but it re-encodes to %x", in, out)
		}
		back, err := ParseAmendment(got.Marshal())
		if err != nil || !reflect.DeepEqual(back, got) {
			t.Fatalf("re-parse: %v\n got %+v\nwant %+v", err, back, got)
		}
		// Verify must not panic on anything ParseAmendment accepts, and
		// may accept only the fixture's own amendment.
		next, err := got.Verify(&cur)
		if err == nil && next.Version != cur.Version+1 {
			t.Fatalf("verified a charter of version %d", next.Version)
		}
	})
}
