package decision

import (
	"crypto/sha256"
	"encoding/binary"
	"net/netip"

	"phalanx"
)

// Decision IDs are what operators and bouncers name decisions by
// (`phalanx decisions delete --id`, the bouncer API's "deleted" list), so
// they must not change when a member restarts and rebuilds its table from
// the report stream. A decision made from a report therefore takes an ID
// that is a pure function of that report: ReportID of the member that
// signed it, the member's sequence number of the report and the
// decision's index among those the report made. Every member judges the
// same reports, so every member gives the decision the same ID; a member's
// own self-defense ban, made before its report reaches the stream, takes
// the ID the report will give it.
//
// IDs fit in 53 bits: bouncers read them as JSON numbers, which many
// decoders hold in a float64. The space is split in two: [1, StableBase)
// for the IDs Table.Add issues to decisions that come without one, and
// [StableBase, MaxID] for the derived IDs, so that the two never meet.
const (
	// StableBase is the lowest derived ID; Table.Add issues IDs below it.
	StableBase uint64 = 1 << 40
	// MaxID is the highest ID a decision may have (2^53-1, the largest
	// integer a float64 holds exactly).
	MaxID uint64 = 1<<53 - 1
)

// Domain labels keep the two kinds of derived IDs apart: no report can hash
// to a feed entry's ID by construction of its input.
const (
	labelReport = "phalanx decision id v1: report\x00"
	labelFeed   = "phalanx decision id v1: feed\x00"
)

// ReportID is the ID of the index-th decision (from 0) made from the report
// that member numbered seq: the decision an alert, a manual ban or a quorum
// reached by that report makes is index 0; the bans a sighting completes
// are 1, 2, ... in the order the arbiter returns them.
//
// Derived IDs are hashes: two decisions stored at once share one with a
// probability of about n²/2^54 for n decisions (1 in 18,000 for a million).
// Table.Add then gives the later one an ID of its own, which is correct but
// not stable; nothing else depends on the IDs being distinct.
func ReportID(member string, seq uint64, index int) uint64 {
	b := make([]byte, 0, len(labelReport)+len(member)+1+8+4)
	b = append(b, labelReport...)
	b = append(b, member...)
	b = append(b, 0)
	b = binary.BigEndian.AppendUint64(b, seq)
	b = binary.BigEndian.AppendUint32(b, uint32(index))
	return derived(b)
}

// FeedID is the ID of the decision that feed (a subscribed list, by its
// name) makes on p, normalised: the same entry of the same feed has the
// same ID on every refresh and across restarts, so that extending it keeps
// its ID.
func FeedID(feed string, p netip.Prefix) uint64 {
	if n, ok := phalanx.NormalizePrefix(p); ok {
		p = n
	}
	b := make([]byte, 0, len(labelFeed)+len(feed)+1+18)
	b = append(b, labelFeed...)
	b = append(b, feed...)
	b = append(b, 0)
	b, _ = p.AppendBinary(b) // never fails
	return derived(b)
}

// IsDerived reports whether id is in the range of ReportID and FeedID.
func IsDerived(id uint64) bool { return id >= StableBase && id <= MaxID }

// derived maps input to [StableBase, MaxID] through SHA-256: reports are
// signed by members, and one that ground for a collision could take an ID
// from a later decision of another member (which would then get an
// unstable one), so the hash must not be cheap to steer.
func derived(input []byte) uint64 {
	sum := sha256.Sum256(input)
	return StableBase + binary.BigEndian.Uint64(sum[:8])%(MaxID-StableBase+1)
}
