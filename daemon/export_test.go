package daemon

import (
	"context"
	"time"

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
