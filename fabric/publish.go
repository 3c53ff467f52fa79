package fabric

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

const (
	// publishAttemptTimeout bounds one wait for the stream's ack; a lost
	// ack is retried with the same message id instead of waited out.
	publishAttemptTimeout = 2 * time.Second
	firstRetryWait        = 20 * time.Millisecond
	maxRetryWait          = time.Second
	maxMemberLen          = 128
	maxMsgIDLen           = 256
	// lowDisk is the free space below which a publish that got no answer
	// is taken to have hit a full disk: nats-server then neither stores
	// nor answers, and its stream stays broken until a restart.
	lowDisk = 1 << 20
)

// ErrStoreFull means the stream refused a report because the store has no
// room: JetStream's storage limit (by default 75% of the free disk space
// when the server started) is used up, or the disk itself is full.
var ErrStoreFull = errors.New("fabric store is full: free disk space under the data directory (or shorten MaxAge) and restart phalanx")

// ErrPermission means the fabric's server refused an operation this
// member is not permitted (see Options.Members), such as publishing
// another member's reports.
var ErrPermission = errors.New("not permitted on the fabric")

// ValidMember reports whether member can name a member on the fabric: 1 to
// 128 ASCII letters, digits, '-' or '_' (one NATS subject token).
func ValidMember(member string) bool {
	if len(member) == 0 || len(member) > maxMemberLen {
		return false
	}
	for i := 0; i < len(member); i++ {
		c := member[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '-', c == '_':
		default:
			return false
		}
	}
	return true
}

// PublishFast sends data on the fast path alone (FastPrefix+member: plain
// NATS, delivered at once to the members connected now, never stored). A
// member calls it the moment it makes a report, so that the report reaches
// the others while an earlier one still waits for the stream (a stream
// leader election takes seconds); Publish stores it later. The same
// argument checks as Publish apply.
func (f *Fabric) PublishFast(member string, data []byte) error {
	if err := f.checkReport(member, "", data); err != nil {
		return err
	}
	return f.nc.Publish(FastPrefix+member, data)
}

// Publish sends data as a report of member: first on the fast path
// FastPrefix+member (plain NATS, delivered at once, not stored), then to the
// stream on ReportPrefix+member with Nats-Msg-Id msgID. It retries the
// stream write with the same msgID after errors and lost acks (2 s per
// attempt, backoff from 20 ms to 1 s) until the stream acknowledges it or
// ctx ends, and returns the stream sequence. Publishing a msgID the stream
// already holds (within its 10 minute duplicate window) stores nothing and
// returns the first copy's sequence.
//
// With Options.Members, member must be this member's own id; Publish
// returns an error wrapping ErrPermission otherwise.
//
// It gives up at once, without retrying, on invalid arguments, on
// ErrStoreFull, ErrStoreDisabled and ErrClosed, and when the stream refuses
// the message as malformed.
func (f *Fabric) Publish(ctx context.Context, member, msgID string, data []byte) (uint64, error) {
	if err := f.checkPublish(member, msgID, data); err != nil {
		return 0, err
	}

	// The fast path is best effort: the stream is the record.
	if err := f.nc.Publish(FastPrefix+member, data); err != nil {
		f.log.Debug("fabric fast path publish failed", "msg_id", msgID, "err", err)
	}
	return f.store(ctx, member, msgID, data)
}

// Store is Publish without the fast path: for a report already sent with
// PublishFast, so that receivers get one fast copy, not two.
func (f *Fabric) Store(ctx context.Context, member, msgID string, data []byte) (uint64, error) {
	if err := f.checkPublish(member, msgID, data); err != nil {
		return 0, err
	}
	return f.store(ctx, member, msgID, data)
}

// checkPublish checks Publish's and Store's arguments.
func (f *Fabric) checkPublish(member, msgID string, data []byte) error {
	if (msgID == "" || len(msgID) > maxMsgIDLen) && ValidMember(member) {
		return fmt.Errorf("publish report: message id must be 1 to %d bytes, got %d", maxMsgIDLen, len(msgID))
	}
	return f.checkReport(member, msgID, data)
}

// checkReport checks the arguments PublishFast, Publish and Store share,
// in this order: the member, (the message id, see checkPublish), the size
// and the right to publish as member. msgID is "" for PublishFast.
func (f *Fabric) checkReport(member, msgID string, data []byte) error {
	switch {
	case !ValidMember(member):
		return fmt.Errorf("publish report: invalid member %q: use 1 to %d letters, digits, '-' or '_'", member, maxMemberLen)
	case len(data) > MaxMessageSize:
		return fmt.Errorf("%s: %d bytes is larger than the fabric's limit of %d", reportName(msgID), len(data), MaxMessageSize)
	case f.self != "" && member != f.self:
		// The server would refuse it too (and the stream write would
		// then only time out): say so at once.
		return fmt.Errorf("%s: %w: this fabric connection is member %s and may publish only its own reports, not member %s's", reportName(msgID), ErrPermission, f.self, member)
	}
	if f.closed() {
		return ErrClosed
	}
	return nil
}

// reportName names a report in checkReport's errors (built only for
// them: the checks run on every publish).
func reportName(msgID string) string {
	if msgID == "" {
		return "publish report"
	}
	return "publish report " + msgID
}

// store writes data to the stream, retrying as Publish describes.
func (f *Fabric) store(ctx context.Context, member, msgID string, data []byte) (uint64, error) {
	subject := ReportPrefix + member
	wait := firstRetryWait
	for attempt := 1; ; attempt++ {
		if f.closed() {
			return 0, ErrClosed
		}
		if f.storeDisabled() {
			return 0, fmt.Errorf("publish report %s: %w", msgID, ErrStoreDisabled)
		}
		actx, cancel := context.WithTimeout(ctx, publishAttemptTimeout)
		ack, err := f.js.Publish(actx, subject, data,
			jetstream.WithMsgID(msgID),
			jetstream.WithExpectStream(StreamName),
			jetstream.WithRetryAttempts(0))
		cancel()
		f.noteWrite(err) // for the health watch
		if err == nil {
			return ack.Sequence, nil
		}
		if perr := f.permanent(err); perr != nil {
			return 0, fmt.Errorf("publish report %s: %w", msgID, perr)
		}
		if ctx.Err() != nil {
			return 0, fmt.Errorf("publish report %s: gave up after %d attempts: %w (last error: %w)", msgID, attempt, ctx.Err(), err)
		}
		f.log.Debug("fabric publish retry", "msg_id", msgID, "attempt", attempt, "err", err)
		// Jitter keeps many retrying publishers from moving in lockstep.
		d := wait/2 + rand.N(wait/2+1)
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return 0, fmt.Errorf("publish report %s: gave up after %d attempts: %w (last error: %w)", msgID, attempt, ctx.Err(), err)
		case <-f.life.Done():
			t.Stop()
			return 0, ErrClosed
		}
		wait = min(2*wait, maxRetryWait)
	}
}

// errDuplicateInProcess is JetStream's answer (409) to a message whose id an
// earlier, unfinished write of the same message holds.
const errDuplicateInProcess = 10158

// permanent returns the error to report when err will not go away by
// retrying, and nil when a retry may succeed.
func (f *Fabric) permanent(err error) error {
	if errors.Is(err, nats.ErrConnectionClosed) && f.closed() {
		return ErrClosed
	}
	if errors.Is(err, nats.ErrPermissionViolation) {
		return fmt.Errorf("%w: %w", ErrPermission, err)
	}
	if errors.Is(err, nats.ErrMaxPayload) || errors.Is(err, nats.ErrBadSubject) {
		return err
	}
	if f.storeDisabled() {
		return ErrStoreDisabled
	}
	var apiErr *jetstream.APIError
	if !errors.As(err, &apiErr) {
		if free, ok := diskFree(f.dataDir); ok && free < lowDisk {
			return fmt.Errorf("%w (no answer from the store and only %d bytes free under %s)", ErrStoreFull, free, f.dataDir)
		}
		return nil // timeouts, no responders, reconnects: retry
	}
	switch apiErr.ErrorCode {
	case errInsufficient, 10047: // insufficient resources, insufficient storage resources
		return fmt.Errorf("%w (%v)", ErrStoreFull, apiErr)
	case 10077: // the store failed to write
		return fmt.Errorf("fabric store failed to write (%v): %s", apiErr, storeAdvice(f.dataDir))
	case errDuplicateInProcess:
		// An earlier attempt with the same message id is still being
		// stored (a slow store answered that attempt late): retry, and
		// the stream acknowledges the id once that attempt is in.
		return nil
	}
	if apiErr.Code >= 400 && apiErr.Code < 500 {
		return apiErr // bad request, message too large, wrong stream
	}
	return nil
}
