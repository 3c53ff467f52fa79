package alliance

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"phalanx/identity"
)

// invite returns an invite for the key of seed n, made at now.
func invite(t testing.TB, n byte, expires time.Time) Invite {
	t.Helper()
	id := ident(t, n)
	return Invite{ID: id.ID, PublicKey: id.Public, Created: now, Expires: expires}
}

func TestInviteLifecycle(t *testing.T) {
	dir := t.TempDir()
	inv := invite(t, 20, now.Add(time.Hour))
	if ValidInvite(dir, inv.PublicKey, now) {
		t.Fatal("an invite is valid before it is added")
	}
	if err := AddInvite(dir, inv); err != nil {
		t.Fatal(err)
	}
	if !ValidInvite(dir, inv.PublicKey, now) {
		t.Fatal("added invite is not valid")
	}
	if ValidInvite(dir, inv.PublicKey, inv.Expires) {
		t.Error("invite is valid at its expiry")
	}
	if ValidInvite(dir, ident(t, 21).Public, now) {
		t.Error("an unknown key is a valid invite")
	}
	fi, err := os.Stat(filepath.Join(dir, InvitesFile))
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm != 0o600 {
		t.Errorf("invites.json mode %04o, want 0600", perm)
	}
	member := ident(t, 3).ID
	used, err := UseInvite(dir, inv.ID, member, now.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if used.UsedBy != member || !used.Used.Equal(now.Add(time.Minute)) || used.ID != inv.ID {
		t.Errorf("UseInvite returned %+v", used)
	}
	if ValidInvite(dir, inv.PublicKey, now) {
		t.Error("a used invite is still valid")
	}
	list, err := ListInvites(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 || list[0].UsedBy != member || !bytes.Equal(list[0].PublicKey, inv.PublicKey) || !list[0].Expires.Equal(inv.Expires) {
		t.Errorf("ListInvites = %+v", list)
	}
	if _, err := UseInvite(dir, inv.ID, ident(t, 4).ID, now.Add(2*time.Minute)); !errors.Is(err, ErrInviteUsed) {
		t.Errorf("second use: %v, want ErrInviteUsed", err)
	}
	matches, _ := filepath.Glob(filepath.Join(dir, ".*tmp*"))
	if len(matches) != 0 {
		t.Errorf("temporary files left behind: %v", matches)
	}
}

func TestListInvitesEmpty(t *testing.T) {
	list, err := ListInvites(t.TempDir())
	if err != nil || len(list) != 0 {
		t.Errorf("ListInvites of an empty data dir = %v, %v", list, err)
	}
}

func TestUseInviteErrors(t *testing.T) {
	member := ident(t, 3).ID
	tests := []struct {
		name   string
		setup  []Invite
		used   bool // use setup[0] once before
		id     string
		member string
		now    time.Time
		want   error
	}{
		{"unknown", []Invite{invite(t, 20, now.Add(time.Hour))}, false, ident(t, 21).ID, member, now, ErrUnknownInvite},
		{"no store", nil, false, ident(t, 21).ID, member, now, ErrUnknownInvite},
		{"expired exactly", []Invite{invite(t, 20, now.Add(time.Hour))}, false, ident(t, 20).ID, member, now.Add(time.Hour), ErrInviteExpired},
		{"expired", []Invite{invite(t, 20, now.Add(time.Hour))}, false, ident(t, 20).ID, member, now.Add(48 * time.Hour), ErrInviteExpired},
		{"expired long ago", []Invite{invite(t, 20, now.Add(time.Hour))}, false, ident(t, 20).ID, member, now.Add(8 * 24 * time.Hour), ErrUnknownInvite},
		{"reused", []Invite{invite(t, 20, now.Add(time.Hour))}, true, ident(t, 20).ID, member, now, ErrInviteUsed},
		{"reused after expiry", []Invite{invite(t, 20, now.Add(time.Hour))}, true, ident(t, 20).ID, member, now.Add(2 * time.Hour), ErrInviteUsed},
		{"bad member id", []Invite{invite(t, 20, now.Add(time.Hour))}, false, ident(t, 20).ID, "bob", now, ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			for _, inv := range tt.setup {
				if err := AddInvite(dir, inv); err != nil {
					t.Fatal(err)
				}
			}
			if tt.used {
				if _, err := UseInvite(dir, tt.setup[0].ID, ident(t, 5).ID, now); err != nil {
					t.Fatal(err)
				}
			}
			_, err := UseInvite(dir, tt.id, tt.member, tt.now)
			if !errors.Is(err, tt.want) {
				t.Fatalf("error %v, want %v", err, tt.want)
			}
			if !strings.Contains(err.Error(), "new one") && tt.want != ErrMalformed {
				t.Errorf("error %q does not say to ask for a new invite", err)
			}
		})
	}
	if _, err := UseInvite(filepath.Join(t.TempDir(), "missing"), ident(t, 20).ID, member, now); !errors.Is(err, ErrUnknownInvite) {
		t.Errorf("missing data dir: %v, want ErrUnknownInvite", err)
	}
}

func TestUseInvitePrunes(t *testing.T) {
	dir := t.TempDir()
	old := invite(t, 20, now.Add(time.Hour))
	recent := invite(t, 21, now.Add(5*24*time.Hour))
	fresh := invite(t, 22, now.Add(10*24*time.Hour))
	for _, inv := range []Invite{old, recent, fresh} {
		if err := AddInvite(dir, inv); err != nil {
			t.Fatal(err)
		}
	}
	at := now.Add(time.Hour + InviteRetention + time.Second) // old expired a week and a second ago
	if _, err := UseInvite(dir, fresh.ID, ident(t, 3).ID, at); err != nil {
		t.Fatal(err)
	}
	list, err := ListInvites(dir)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, inv := range list {
		ids = append(ids, inv.ID)
	}
	if want := []string{recent.ID, fresh.ID}; fmt.Sprint(ids) != fmt.Sprint(want) {
		t.Errorf("after pruning %v, want %v", ids, want)
	}
}

func TestAddInviteErrors(t *testing.T) {
	good := invite(t, 20, now.Add(time.Hour))
	mismatch := good
	mismatch.ID = ident(t, 21).ID
	shortKey := good
	shortKey.PublicKey = good.PublicKey[:31]
	backwards := good
	backwards.Expires = now.Add(-time.Second)
	noCreated := good
	noCreated.Created = time.Time{}
	used := good
	used.Used, used.UsedBy = now, ident(t, 3).ID
	halfUsed := good
	halfUsed.UsedBy = ident(t, 3).ID
	tests := []struct {
		name   string
		before []Invite
		inv    Invite
	}{
		{"duplicate", []Invite{good}, good},
		{"id does not match key", nil, mismatch},
		{"short key", nil, shortKey},
		{"expires before created", nil, backwards},
		{"no created", nil, noCreated},
		{"already used", nil, used},
		{"used_by without used", nil, halfUsed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			for _, inv := range tt.before {
				if err := AddInvite(dir, inv); err != nil {
					t.Fatal(err)
				}
			}
			if err := AddInvite(dir, tt.inv); !errors.Is(err, ErrMalformed) {
				t.Errorf("error %v, want ErrMalformed", err)
			}
		})
	}
}

func TestAddInviteLimit(t *testing.T) {
	dir := t.TempDir()
	s := &store{Version: storeVersion}
	for i := range MaxInvites {
		pub := make([]byte, ed25519.PublicKeySize)
		pub[0], pub[1] = byte(i>>8), byte(i)
		s.Invites = append(s.Invites, Invite{ID: identity.MemberID(pub), PublicKey: pub, Created: now, Expires: now.Add(time.Hour)})
	}
	if err := writeStore(dir, s); err != nil {
		t.Fatal(err)
	}
	err := AddInvite(dir, invite(t, 20, now.Add(time.Hour)))
	if err == nil || !strings.Contains(err.Error(), "limit") {
		t.Fatalf("adding invite %d: %v, want a limit error", MaxInvites+1, err)
	}
	// Once the others have expired for long enough, they make room.
	later := invite(t, 20, now.Add(30*24*time.Hour))
	later.Created = now.Add(9 * 24 * time.Hour)
	if err := AddInvite(dir, later); err != nil {
		t.Fatalf("adding after the others expired: %v", err)
	}
	if list, _ := ListInvites(dir); len(list) != 1 {
		t.Errorf("%d invites kept, want 1", len(list))
	}
}

func TestInviteStoreDamaged(t *testing.T) {
	inv := invite(t, 20, now.Add(time.Hour))
	tests := []struct{ name, content string }{
		{"garbage", "not json"},
		{"unknown field", `{"version":1,"invites":[],"extra":true}`},
		{"wrong version", `{"version":2,"invites":[]}`},
		{"trailing data", `{"version":1,"invites":[]} {}`},
		{"bad invite", `{"version":1,"invites":[{"id":"m0000000000000000","public_key":"AAAA","created":"2030-01-01T00:00:00Z","expires":"2030-01-02T00:00:00Z"}]}`},
		{"too large", `{"version":1,"invites":[]}` + strings.Repeat(" ", maxInvitesFile)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, InvitesFile), []byte(tt.content), 0o600); err != nil {
				t.Fatal(err)
			}
			if _, err := ListInvites(dir); !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), "move it away") {
				t.Errorf("ListInvites: %v, want a malformed error that says what to do", err)
			}
			if err := AddInvite(dir, inv); !errors.Is(err, ErrMalformed) {
				t.Errorf("AddInvite: %v, want ErrMalformed", err)
			}
			if ValidInvite(dir, inv.PublicKey, now) {
				t.Error("ValidInvite on a damaged store")
			}
			got, err := os.ReadFile(filepath.Join(dir, InvitesFile))
			if err != nil || string(got) != tt.content {
				t.Error("a damaged store was overwritten")
			}
		})
	}
}

// TestUseInviteConcurrent races two users of one invite, each with its own
// lock file handle (as the CLI and the daemon would have): exactly one may
// win, every round.
func TestUseInviteConcurrent(t *testing.T) {
	dir := t.TempDir()
	const rounds = 20
	for r := range rounds {
		inv := invite(t, byte(100+r), now.Add(time.Hour))
		if err := AddInvite(dir, inv); err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		start := make(chan struct{})
		errs := make([]error, 2)
		for i := range errs {
			wg.Go(func() {
				<-start
				_, errs[i] = UseInvite(dir, inv.ID, ident(t, byte(50+i)).ID, now)
			})
		}
		close(start)
		wg.Wait()
		wins := 0
		for _, err := range errs {
			switch {
			case err == nil:
				wins++
			case !errors.Is(err, ErrInviteUsed):
				t.Fatalf("round %d: %v", r, err)
			}
		}
		if wins != 1 {
			t.Fatalf("round %d: %d users won one invite", r, wins)
		}
	}
}

// TestAddInviteConcurrent checks that concurrent writers lose no update.
func TestAddInviteConcurrent(t *testing.T) {
	dir := t.TempDir()
	const n = 16
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() { errs[i] = AddInvite(dir, invite(t, byte(100+i), now.Add(time.Hour))) })
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	list, err := ListInvites(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != n {
		t.Errorf("%d invites recorded, want %d", len(list), n)
	}
}

// TestUseInviteTwoProcesses races two processes (this test binary, run
// again as a helper) for one invite.
func TestUseInviteTwoProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	dir := t.TempDir()
	for r := range 3 {
		inv := invite(t, byte(200+r), now.Add(time.Hour))
		if err := AddInvite(dir, inv); err != nil {
			t.Fatal(err)
		}
		var cmds []*exec.Cmd
		var outs []*bytes.Buffer
		for i := range 2 {
			cmd := exec.Command(os.Args[0], "-test.run=^TestHelperUseInvite$")
			cmd.Env = append(os.Environ(), "ALLIANCE_HELPER_DIR="+dir, "ALLIANCE_HELPER_INVITE="+inv.ID, "ALLIANCE_HELPER_MEMBER="+ident(t, byte(60+i)).ID)
			out := new(bytes.Buffer)
			cmd.Stdout, cmd.Stderr = out, out
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			cmds, outs = append(cmds, cmd), append(outs, out)
		}
		wins, losses := 0, 0
		for i, cmd := range cmds {
			if err := cmd.Wait(); err != nil {
				t.Fatalf("helper: %v\n%s", err, outs[i])
			}
			wins += strings.Count(outs[i].String(), "RESULT won")
			losses += strings.Count(outs[i].String(), "RESULT used")
		}
		if wins != 1 || losses != 1 {
			t.Fatalf("round %d: %d wins and %d 'already used', want 1 and 1:\n%s\n%s", r, wins, losses, outs[0], outs[1])
		}
	}
}

// TestHelperUseInvite is the other process of TestUseInviteTwoProcesses.
func TestHelperUseInvite(t *testing.T) {
	dir := os.Getenv("ALLIANCE_HELPER_DIR")
	if dir == "" {
		t.Skip("helper process for TestUseInviteTwoProcesses")
	}
	_, err := UseInvite(dir, os.Getenv("ALLIANCE_HELPER_INVITE"), os.Getenv("ALLIANCE_HELPER_MEMBER"), now)
	switch {
	case err == nil:
		fmt.Println("RESULT won")
	case errors.Is(err, ErrInviteUsed):
		fmt.Println("RESULT used")
	default:
		t.Fatal(err)
	}
}
