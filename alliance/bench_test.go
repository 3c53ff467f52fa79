package alliance

import (
	"testing"
	"time"

	"phalanx/identity"
)

func BenchmarkParseToken(b *testing.B) {
	tok, _, _, _ := fuzzSeeds(b)
	s := tok.String()
	for b.Loop() {
		if _, err := ParseToken(s, now); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseJoinRequest(b *testing.B) {
	tok, req, _, _ := fuzzSeeds(b)
	in, invite := req.Marshal(), tok.InviteKey()
	for b.Loop() {
		if _, err := ParseJoinRequest(in, invite); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkAcceptJoinReply(b *testing.B) {
	f := newFixture(b)
	tok, _, reply, _ := fuzzSeeds(b)
	in := reply.Marshal()
	for b.Loop() {
		r, err := ParseJoinReply(in)
		if err != nil {
			b.Fatal(err)
		}
		if _, _, err := r.Accept(tok, f.joiner); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerifyAmendment(b *testing.B) {
	f := newFixture(b)
	_, _, _, a := fuzzSeeds(b)
	in := a.Marshal()
	for b.Loop() {
		got, err := ParseAmendment(in)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := got.Verify(&f.charter); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAddAndUseInvite measures a round of the invite store: two
// locked, synced rewrites of a small invites.json.
func BenchmarkAddAndUseInvite(b *testing.B) {
	dir := b.TempDir()
	member := ident(b, 3).ID
	i := 0
	for b.Loop() {
		i++
		var pub [32]byte
		pub[0], pub[1], pub[2] = byte(i>>16), byte(i>>8), byte(i)
		// Each round a week and more after the last, so that pruning keeps
		// the store small however many rounds run.
		at := now.Add(time.Duration(i) * (InviteRetention + 2*time.Hour))
		inv := Invite{PublicKey: pub[:], Created: at, Expires: at.Add(time.Hour)}
		inv.ID = identity.MemberID(pub[:])
		if err := AddInvite(dir, inv); err != nil {
			b.Fatal(err)
		}
		if _, err := UseInvite(dir, inv.ID, member, at); err != nil {
			b.Fatal(err)
		}
	}
}
