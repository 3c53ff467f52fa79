package daemon

import (
	"context"
	"net/netip"
	"time"

	"phalanx"
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
