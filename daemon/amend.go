package daemon

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

	"phalanx/alliance"
	"phalanx/charter"
	"phalanx/fabric"
	"phalanx/lapi"
)

// kindAmendment is the first byte of an amendment on the stream; a report's
// is report.Version.
const kindAmendment = 0xA1

// Reasons for rejected amendments, counted with the reports' reasons.
const (
	reasonBadAmendment = "bad-amendment"
	reasonOldAmendment = "old-amendment"
)

// consumeAmendment applies an amendment from the stream: it must amend the
// charter the arbiter holds at this point of the stream. It runs on the
// consumer goroutine.
func (d *Daemon) consumeAmendment(m fabric.Msg) {
	am, err := alliance.ParseAmendment(m.Data[1:])
	if err != nil {
		d.reject("?", reasonBadAmendment, "seq", m.Seq, "err", err)
		return
	}
	next, err := am.Verify(&d.streamCharter)
	if err != nil {
		if am.Prev != d.streamCharter.Hash() && d.knownCharter(am) {
			d.ctr.duplicate.Add(1) // an amendment already in force (replay, or fast path then stream)
			return
		}
		d.reject(am.Signer, reasonBadAmendment, "seq", m.Seq, "err", err)
		return
	}
	d.arb.Amend(&next)
	d.recordAmendment(&d.streamCharter, &next, am, m.Time) // the console's charter history (console.go)
	d.streamCharter = next
	d.timelineAmendment(next, am)
	if _, _, ok := next.Member(d.id.ID); !ok {
		d.log.Error("this member was removed from the alliance: the others ignore its reports from now on; it keeps enforcing what it decides itself", "signer", am.Signer, "version", next.Version)
	}
	if next.Version > d.charter().c.Version {
		d.adopt(next)
	}
}

// knownCharter reports whether am leads to a charter no newer than the one
// in force on the stream.
func (d *Daemon) knownCharter(am alliance.Amendment) bool {
	c, err := charter.Parse(am.Charter)
	return err == nil && c.Version <= d.streamCharter.Version
}

func (d *Daemon) timelineAmendment(next charter.Charter, am alliance.Amendment) {
	d.log.Info("charter amended", "version", next.Version, "members", len(next.Members), "signer", am.Signer)
}

// adopt makes next the charter in force for the API, the fabric's
// permissions and the data directory. Stream order (the arbiter) is
// handled by the caller.
func (d *Daemon) adopt(next charter.Charter) {
	d.amendMu.Lock()
	defer d.amendMu.Unlock()
	d.adoptLocked(next)
}

// adoptLocked is adopt for callers that hold amendMu.
func (d *Daemon) adoptLocked(next charter.Charter) {
	if next.Version <= d.charter().c.Version {
		return
	}
	if err := writeCharter(d.opts.DataDir, &next); err != nil {
		d.log.Error("store the amended charter", "err", err)
	}
	d.setCharter(next)
	if _, _, ok := next.Member(d.id.ID); d.secret == "" || !ok {
		return
	}
	if err := d.fab.SetMembers(fabricMembers(&next)); err != nil {
		d.log.Error("update the fabric's members", "err", err)
	}
	d.fab.SetReplicas(replicas(&next))
}

// handleJoin admits a new member that presents an invite of this member.
// It runs on the fabric's join goroutine, one request at a time.
func (d *Daemon) handleJoin(inviteID string, raw []byte) []byte {
	refuse := func(msg string) []byte {
		d.met.joins.WithLabelValues("refused").Inc()
		d.log.Warn("refused a join request", "invite", inviteID, "reason", msg)
		return alliance.JoinReply{Error: msg}.Marshal()
	}
	now := d.now()
	invites, err := alliance.ListInvites(d.opts.DataDir)
	if err != nil {
		return refuse("the inviting member cannot read its invites; ask its operator")
	}
	var inv *alliance.Invite
	for i := range invites {
		if invites[i].ID == inviteID {
			inv = &invites[i]
		}
	}
	if inv == nil {
		return nil // another member's invite (every member sees every join request), or none
	}
	req, err := alliance.ParseJoinRequest(raw, inv.PublicKey)
	if err != nil {
		return refuse("bad join request: " + err.Error())
	}
	d.amendMu.Lock()
	defer d.amendMu.Unlock()
	cur := d.charter().c
	if me, _, ok := cur.Member(d.id.ID); !ok || !me.Founding {
		return refuse("the inviting member is no longer founding: ask a founding member for a new invite")
	}
	next, err := alliance.AddMember(&cur, req.Member)
	if err != nil {
		return refuse(err.Error())
	}
	am, err := alliance.NewAmendment(d.id, &cur, &next)
	if err != nil {
		return refuse("sign the amendment: " + err.Error())
	}
	if err := fitsFabric(am); err != nil {
		return refuse(err.Error())
	}
	if _, err := alliance.UseInvite(d.opts.DataDir, inviteID, req.Member.ID, now); err != nil {
		return refuse(err.Error())
	}
	if err := d.sealAmendment(&cur, am); err != nil { // tamper.go: the history before the charter file
		d.log.Error("admit a new member", "err", err)
		return refuse("the inviting member cannot record the amendment; ask its operator")
	}
	d.adoptLocked(next)
	d.publishAmendment(am)
	charterYAML, err := next.Marshal()
	if err != nil {
		return refuse("encode the charter: " + err.Error())
	}
	// The reply's route secret grants nothing: fabric links authenticate
	// by the members' TLS certificates, whose keys the charter lists. The joiner
	// keeps it as its fabric.secret, which marks a member of a
	// multi-host alliance; each gets a fresh one, so that no member holds
	// what another's file holds, and this member's own stays here.
	marker, err := alliance.NewRouteSecret(rand.Reader)
	if err != nil {
		return refuse("make the joiner's fabric.secret: " + err.Error())
	}
	d.met.joins.WithLabelValues("admitted").Inc()
	d.log.Info("admitted a new member", "member", req.Member.ID, "name", req.Member.Name, "fabric", req.Member.Fabric, "version", next.Version)
	return alliance.JoinReply{Charter: charterYAML, Amendment: am.Marshal(), RouteSecret: marker, History: d.joinHistory(&cur, am, now)}.Marshal()
}

// RemoveMember amends the charter to drop member id, as this (founding)
// member: every member verifies the amendment and rejects the removed
// member's reports from that point of the stream on, and the fabric no
// longer lets it connect. It returns the new charter.
func (d *Daemon) RemoveMember(id string) (charter.Charter, error) {
	if d.secret == "" {
		return charter.Charter{}, fmt.Errorf("%w: this member is alone; there is no one to remove", errBadRequest)
	}
	if id == d.id.ID {
		return charter.Charter{}, fmt.Errorf("%w: a member cannot remove itself; ask another founding member", errBadRequest)
	}
	next, err := d.amend(func(cur *charter.Charter) (charter.Charter, error) {
		if _, _, ok := cur.Member(id); !ok {
			return charter.Charter{}, fmt.Errorf("%w: no member %s in the charter (phalanx charter show lists them)", errNotFound, id)
		}
		return alliance.RemoveMember(cur, id)
	})
	if err == nil {
		d.log.Info("removed a member from the alliance", "member", id, "version", next.Version)
	}
	return next, err
}

// SetFleet amends the charter's fleet section, as this (founding) member:
// f nil turns the fleet scenarios off. A section without a salt keeps the
// charter's salt, or gets a new one. Every member verifies the amendment
// and judges sightings by the new section from that point of the stream on.
func (d *Daemon) SetFleet(f *charter.Fleet) (charter.Charter, error) {
	next, err := d.amend(func(cur *charter.Charter) (charter.Charter, error) {
		if f != nil && f.Salt == "" {
			cp := *f
			if cur.Fleet != nil && cur.Fleet.Salt != "" {
				cp.Salt = cur.Fleet.Salt
			} else {
				salt, err := charter.NewSalt(rand.Reader)
				if err != nil {
					return charter.Charter{}, err
				}
				cp.Salt = salt
			}
			f = &cp
		}
		return alliance.SetFleet(cur, f)
	})
	if err == nil {
		d.log.Info("amended the charter's fleet section", "on", next.Fleet != nil, "version", next.Version)
	}
	return next, err
}

// AddAllianceBouncer makes a bouncer key that every member accepts: it
// amends the charter, as this (founding) member, with the key's name and
// SHA-256 (never the key), and returns the key, which is shown once. Each
// member accepts it once it applies the amendment.
func (d *Daemon) AddAllianceBouncer(name string) (key string, next charter.Charter, err error) {
	if err := lapi.CheckName(name); err != nil {
		return "", charter.Charter{}, fmt.Errorf("%w: %v", errBadRequest, err)
	}
	if slices.ContainsFunc(d.keys.List(), func(b lapi.Bouncer) bool { return b.Name == name && !b.Alliance }) {
		return "", charter.Charter{}, fmt.Errorf("%w: this member has a bouncer key of its own named %q; choose another name for the alliance key", errBadRequest, name)
	}
	key, sum, err := lapi.NewKey()
	if err != nil {
		return "", charter.Charter{}, err
	}
	next, err = d.amend(func(cur *charter.Charter) (charter.Charter, error) {
		return cur.AddBouncer(charter.Bouncer{Name: name, SHA256: hex.EncodeToString(sum[:])})
	})
	if err != nil {
		return "", charter.Charter{}, allianceBouncerRefusal(err)
	}
	d.log.Info("added an alliance bouncer key", "bouncer", name, "version", next.Version)
	return key, next, nil
}

// RemoveAllianceBouncer amends the charter, as this (founding) member, to
// drop the alliance bouncer named name: each member refuses its key once
// it applies the amendment.
func (d *Daemon) RemoveAllianceBouncer(name string) (charter.Charter, error) {
	next, err := d.amend(func(cur *charter.Charter) (charter.Charter, error) {
		if _, ok := cur.Bouncer(name); !ok {
			return charter.Charter{}, fmt.Errorf("%w: no alliance bouncer named %q (phalanx bouncers list shows them; a member's own key goes without --alliance)", errNotFound, name)
		}
		return cur.RemoveBouncer(name)
	})
	if err != nil {
		return charter.Charter{}, allianceBouncerRefusal(err)
	}
	d.log.Info("removed an alliance bouncer key", "bouncer", name, "version", next.Version)
	return next, nil
}

// allianceBouncerRefusal says how to go on when this member may not amend.
func allianceBouncerRefusal(err error) error {
	if errors.Is(err, errForbidden) {
		return fmt.Errorf("%w; an alliance bouncer key is a charter amendment: run this on a founding member, or give the bouncer a key of this member alone (phalanx bouncers add NAME, without --alliance)", err)
	}
	return err
}

// allianceBouncers returns the alliance bouncer keys of c, as the bouncer
// API accepts them.
func allianceBouncers(c *charter.Charter) []lapi.AllianceKey {
	out := make([]lapi.AllianceKey, 0, len(c.Bouncers))
	for _, b := range c.Bouncers {
		if sum, ok := b.Sum(); ok { // always: a charter in force is valid
			out = append(out, lapi.AllianceKey{Name: b.Name, Sum: sum})
		}
	}
	return out
}

// amend makes the charter that change derives from the one in force, as
// this founding member, adopts it and publishes the signed amendment. A
// lone member (no fabric secret) adopts it alone.
func (d *Daemon) amend(change func(cur *charter.Charter) (charter.Charter, error)) (charter.Charter, error) {
	d.amendMu.Lock()
	defer d.amendMu.Unlock()
	cur := d.charter().c
	if me, _, ok := cur.Member(d.id.ID); !ok || !me.Founding {
		return charter.Charter{}, fmt.Errorf("%w: only founding members may amend the charter", errForbidden)
	}
	next, err := change(&cur)
	if err != nil {
		if errors.Is(err, errNotFound) || errors.Is(err, errForbidden) {
			return charter.Charter{}, err
		}
		return charter.Charter{}, fmt.Errorf("%w: %v", errBadRequest, err)
	}
	am, err := alliance.NewAmendment(d.id, &cur, &next)
	if err != nil {
		return charter.Charter{}, err
	}
	if err := fitsFabric(am); err != nil {
		return charter.Charter{}, err
	}
	if err := d.sealAmendment(&cur, am); err != nil { // tamper.go: the history before the charter file
		return charter.Charter{}, err
	}
	d.adoptLocked(next)
	d.publishAmendment(am)
	return next, nil
}

// fitsFabric checks that am, which carries the whole new charter, fits in
// one fabric message.
func fitsFabric(am alliance.Amendment) error {
	if n := 1 + len(am.Marshal()); n > fabric.MaxMessageSize {
		return fmt.Errorf("the amended charter takes %d bytes, more than one fabric message carries (%d): this alliance cannot grow further by amendments yet", n, fabric.MaxMessageSize)
	}
	return nil
}

// publishAmendment queues am to be stored on the stream. One goroutine
// stores the queue in order, retrying each until it is stored (a lone
// founder's stream waits for its first peer): every member must see
// amendments in the order they were made, each amending the one before.
func (d *Daemon) publishAmendment(am alliance.Amendment) {
	d.amendQ.Lock()
	d.amendQ.items = append(d.amendQ.items, am)
	start := !d.amendQ.running
	d.amendQ.running = true
	d.amendQ.Unlock()
	if start {
		d.wg.Add(1)
		go d.drainAmendments()
	}
}

func (d *Daemon) drainAmendments() {
	defer d.wg.Done()
	for {
		d.amendQ.Lock()
		if len(d.amendQ.items) == 0 {
			d.amendQ.running = false
			d.amendQ.Unlock()
			return
		}
		am := d.amendQ.items[0]
		d.amendQ.Unlock()
		if !d.storeAmendment(am) {
			d.amendQ.Lock()
			d.amendQ.running = false
			d.amendQ.Unlock()
			return
		}
		d.amendQ.Lock()
		d.amendQ.items = d.amendQ.items[1:]
		d.amendQ.Unlock()
	}
}

// storeAmendment publishes one amendment until the stream stores it; false
// when the daemon stops first.
func (d *Daemon) storeAmendment(am alliance.Amendment) bool {
	data := append([]byte{kindAmendment}, am.Marshal()...)
	msgID := "amend-" + am.Prev
	ctx := d.life
	for {
		_, err := d.fab.Publish(ctx, d.id.ID, msgID, data)
		if err == nil {
			os.Remove(filepath.Join(d.opts.DataDir, filePendingAmendment))
			return true
		}
		if ctx.Err() != nil || errors.Is(err, fabric.ErrClosed) {
			return false
		}
		d.log.Warn("publish amendment (will retry)", "err", err)
		select {
		case <-ctx.Done():
			return false
		case <-time.After(time.Second):
		}
	}
}

// publishPending publishes the amendment that admitted this member, kept
// by Join, so that every member learns of it even if the inviting member
// failed before it could.
func (d *Daemon) publishPending() {
	data, err := os.ReadFile(filepath.Join(d.opts.DataDir, filePendingAmendment))
	if err != nil {
		return
	}
	am, err := alliance.ParseAmendment(data)
	if err != nil {
		d.log.Error("the pending amendment is damaged; the inviting member publishes it", "err", err)
		return
	}
	d.publishAmendment(am)
}

// serveJoins answers join requests while ctx lasts.
func (d *Daemon) serveJoins(ctx context.Context) {
	if d.secret == "" {
		return
	}
	if err := d.fab.ServeJoin(ctx, d.handleJoin); err != nil && ctx.Err() == nil {
		d.log.Error("serve join requests", "err", err)
	}
}
