package daemon

import (
	"bytes"
	"context"
	"net/netip"
	"time"

	"phalanx"
	"phalanx/arbiter"
	"phalanx/identity"
	"phalanx/report"
)

// IdentityForTest returns the member's identity, private key included, so
// that a test can play the member turning malicious with its real key.
func (d *Daemon) IdentityForTest() *identity.Identity { return d.id }

// PublishForTest publishes data as member's report with msgID through the
// member's own fabric connection, bypassing the outbox and its sequence.
func (d *Daemon) PublishForTest(ctx context.Context, member, msgID string, data []byte) (uint64, error) {
	return d.fab.Publish(ctx, member, msgID, data)
}

// JudgeLocallyForTest makes this member's arbiter judge r as if it had
// arrived now, without the fabric and without counting its sequence: the
// member then holds a ban the others do not, which digest comparison must
// notice.
func (d *Daemon) JudgeLocallyForTest(r *report.Report) {
	d.consumeMu.Lock()
	defer d.consumeMu.Unlock()
	d.arb.Apply(r, time.Now(), time.Now())
}

// AuditKernelForTest runs the kernel audit now rather than at its next
// minute.
func (d *Daemon) AuditKernelForTest() { d.auditKernel() }

// DamageBanForTest makes this member lose its ban on value as a damaged
// state would: its arbiter forgets the ban, and the table loses the
// alliance decisions on value (no pardon, nothing on the fabric). It
// reports whether the arbiter held a ban to forget.
func (d *Daemon) DamageBanForTest(value netip.Prefix) bool {
	d.consumeMu.Lock()
	defer d.consumeMu.Unlock()
	ok := d.arb.ForgetBan(value)
	var ids []uint64
	d.table.All(func(x phalanx.Decision) bool {
		if x.Value == value && x.Origin != phalanx.OriginSelf {
			ids = append(ids, x.ID)
		}
		return true
	})
	d.apply(nil, ids, "test damage")
	return ok
}

// DigestForTest is the digest of the bans this member's arbiter holds in
// force at at, and how many.
func (d *Daemon) DigestForTest(at time.Time) ([32]byte, int) { return d.digest(at) }

// SetPeerSnapshotForTest lowers how long the stream must be before a
// member without a snapshot asks another member for one, and how long a
// majority has to confirm it (peersnapshot.go). Call it between New and
// Run.
func (d *Daemon) SetPeerSnapshotForTest(min uint64, quorum time.Duration) {
	d.psnap.min, d.psnap.quorum = min, quorum
}

// PeerSnapshotsForTest returns the outcomes of catching up from another
// member's snapshot, by name.
func (d *Daemon) PeerSnapshotsForTest() map[string]int64 { return d.psnap.counts() }

// WriteSnapshotForTest writes a snapshot of the state at the position
// consumed now; it reports the position (0: none written, the charter
// changed on the stream since the member started).
func (d *Daemon) WriteSnapshotForTest() (uint64, error) {
	d.snap.pos.Store(0) // written even at the position of the last one
	if err := d.writeSnapshot(); err != nil {
		return 0, err
	}
	return d.snap.pos.Load(), nil
}

// WriteLyingSnapshotForTest writes a snapshot, validly signed, whose
// arbiter holds a ban on value that this member's own (left as it was)
// does not: the member's report r, judged by a copy of the arbiter alone.
// It reports whether the copy decided the ban.
func (d *Daemon) WriteLyingSnapshotForTest(r *report.Report) (bool, error) {
	d.consumeMu.Lock()
	orig := d.arb
	var b bytes.Buffer
	if err := orig.WriteSnapshot(&b); err != nil {
		d.consumeMu.Unlock()
		return false, err
	}
	lie, err := arbiter.ReadSnapshot(&d.streamCharter, &b)
	if err != nil {
		d.consumeMu.Unlock()
		return false, err
	}
	out := lie.Apply(r, time.Now(), time.Now())
	d.arb = lie
	d.consumeMu.Unlock()
	defer func() {
		d.consumeMu.Lock()
		d.arb = orig
		d.consumeMu.Unlock()
	}()
	_, err = d.WriteSnapshotForTest()
	return out.Verdict == arbiter.Decided, err
}
