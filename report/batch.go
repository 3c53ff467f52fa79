package report

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"time"
)

// Limits on a batch. Entries at every limit would not fit in MaxSize
// bytes, so Validate also checks the whole size, and PackBatch splits rows
// into batches that fit (about 2,900 IPv4 or 1,400 IPv6 entries each).
const (
	MaxBatchEntries = 4096 // values per batch
	MaxBatchReasons = 255  // distinct reasons per batch
)

// BatchEntry is one ban of a batch.
type BatchEntry struct {
	// Value is an address (full-length prefix) or a range: masked, never
	// IPv4-mapped.
	Value netip.Prefix
	// Duration is the requested length in whole seconds, at most
	// MaxDuration; 0 is the charter's default.
	Duration time.Duration
	// Reason is an index into the report's Reasons.
	Reason uint8
}

// batchEntrySize is the encoded size of one entry.
func batchEntrySize(v netip.Prefix) int {
	n := 1 + 1 + 4 + 1 // family, bits, duration, reason index
	if v.Addr().Is4() {
		n += 4
	} else if v.IsValid() {
		n += 16
	}
	return n
}

// batchFixedSize is the size of a batch without its entries and reasons,
// signature included.
func batchFixedSize(memberLen, scenarioLen int) int {
	return 1 + 1 + 4 + memberLen + 8 + 8 + 4 + scenarioLen + 1 + 2 + SigSize
}

// batchBody encodes a batch: the common start (version, type, member,
// sequence, time), the scenario (prefixed by its 32-bit length), the number
// of reasons (one byte) and each reason (prefixed by its 32-bit length),
// the number of entries (16 bits), and the entries: value (family byte,
// address bytes, bit length), duration in seconds (32 bits) and reason
// index (one byte). Integers are big-endian, times Unix nanoseconds.
func (r *Report) batchBody() []byte {
	n := batchFixedSize(len(r.Member), len(r.Scenario)) - SigSize
	for _, s := range r.Reasons {
		n += 4 + len(s)
	}
	for i := range r.Batch {
		n += batchEntrySize(r.Batch[i].Value)
	}
	b := make([]byte, 0, n)
	b = append(b, Version, byte(r.Type))
	b = appendString(b, r.Member)
	b = binary.BigEndian.AppendUint64(b, r.Seq)
	b = appendTime(b, r.Time)
	b = appendString(b, r.Scenario)
	b = append(b, byte(len(r.Reasons)))
	for _, s := range r.Reasons {
		b = appendString(b, s)
	}
	b = binary.BigEndian.AppendUint16(b, uint16(len(r.Batch)))
	for i := range r.Batch {
		e := &r.Batch[i]
		b = appendPrefix(b, e.Value)
		b = binary.BigEndian.AppendUint32(b, uint32(e.Duration/time.Second))
		b = append(b, e.Reason)
	}
	return b
}

// minBatchEntry is the smallest encoded entry (IPv4), which bounds what the
// entry count may claim before anything is allocated for it.
const minBatchEntry = 1 + 4 + 1 + 4 + 1

// finishBatch decodes the rest of a batch after its time.
func finishBatch(r Report, d *decoder, b []byte) (Report, error) {
	r.Scenario = d.string("scenario", MaxScenarioLen)
	if nr := int(d.Uint8()); d.Err() == nil && nr > 0 {
		if nr*4 > d.Len() {
			d.Fail(errPastEnd)
		} else {
			r.Reasons = make([]string, nr)
			for i := range r.Reasons {
				r.Reasons[i] = d.string("reason", MaxReasonLen)
			}
		}
	}
	n := int(d.Uint16())
	if d.Err() == nil {
		switch {
		case n > MaxBatchEntries:
			d.Fail(fmt.Errorf("%w: %d batch entries, the limit is %d", ErrLimit, n, MaxBatchEntries))
		case n*minBatchEntry > d.Len():
			d.Fail(errPastEnd)
		case n > 0:
			r.Batch = make([]BatchEntry, n)
		}
	}
	for i := range r.Batch {
		if d.Err() != nil {
			break
		}
		e := &r.Batch[i]
		e.Value = d.prefix()
		e.Duration = time.Duration(d.Uint32()) * time.Second
		e.Reason = d.Uint8()
	}
	return d.finish(r, b, "batch")
}

// validateBatch checks what is particular to a batch; the common fields
// are checked already.
func (r *Report) validateBatch() error {
	if r.Value != (netip.Prefix{}) || r.Duration != 0 || r.Reason != "" || !r.First.IsZero() || !r.Last.IsZero() ||
		r.Count != 0 || len(r.Evidence) != 0 || len(r.Sightings) != 0 {
		return fmt.Errorf("%w: a batch carries no value, duration, reason, alert window, count, evidence or sightings of its own", ErrMalformed)
	}
	if r.Scenario == "" {
		return fmt.Errorf("%w: empty scenario; name the batch, such as \"import\"", ErrMalformed)
	}
	if err := checkText("scenario", r.Scenario, MaxScenarioLen, false); err != nil {
		return err
	}
	if len(r.Reasons) > MaxBatchReasons {
		return fmt.Errorf("%w: %d reasons, the limit is %d", ErrLimit, len(r.Reasons), MaxBatchReasons)
	}
	size := batchFixedSize(len(r.Member), len(r.Scenario))
	for i, s := range r.Reasons {
		if err := checkText(fmt.Sprintf("reason %d", i+1), s, MaxReasonLen, false); err != nil {
			return err
		}
		size += 4 + len(s)
	}
	switch n := len(r.Batch); {
	case n == 0:
		return fmt.Errorf("%w: a batch without entries; send none", ErrMalformed)
	case n > MaxBatchEntries:
		return fmt.Errorf("%w: %d batch entries, the limit is %d (PackBatch splits rows)", ErrLimit, n, MaxBatchEntries)
	}
	for i := range r.Batch {
		e := &r.Batch[i]
		if err := checkPrefix(e.Value); err != nil {
			return fmt.Errorf("batch entry %d: %w", i+1, err)
		}
		if i > 0 && comparePrefix(r.Batch[i-1].Value, e.Value) >= 0 {
			return fmt.Errorf("%w: batch entry %d (%s) is not after %s; sort the entries by value, each once", ErrMalformed, i+1, e.Value, r.Batch[i-1].Value)
		}
		if e.Duration < 0 || e.Duration > MaxDuration || e.Duration%time.Second != 0 {
			return fmt.Errorf("%w: batch entry %d: duration %v; use whole seconds up to %v", ErrLimit, i+1, e.Duration, MaxDuration)
		}
		if int(e.Reason) >= len(r.Reasons) {
			return fmt.Errorf("%w: batch entry %d names reason %d of %d", ErrMalformed, i+1, int(e.Reason)+1, len(r.Reasons))
		}
		size += batchEntrySize(e.Value)
	}
	if size > MaxSize {
		return fmt.Errorf("%w: %d bytes, the limit is %d (PackBatch splits rows)", ErrTooLarge, size, MaxSize)
	}
	return nil
}

// BatchRow is one ban to pack into batches.
type BatchRow struct {
	Value    netip.Prefix  // masked, never IPv4-mapped
	Duration time.Duration // 0 for the charter's default; rounded up to whole seconds
	Reason   string        // made fit with Text(s, MaxReasonLen)
}

// PackBatch packs rows, sorted by value with each value once, into batch
// reports of scenario that each fit the limits for a member ID of
// memberLen bytes: a new batch starts when the next row would pass
// MaxBatchEntries, MaxBatchReasons or MaxSize. The reports have Type,
// Scenario, Reasons and Batch set; the caller sets Time, then signs them.
// A row's duration over MaxDuration is cut to it (the charter caps manual
// bans lower anyway).
func PackBatch(scenario string, rows []BatchRow, memberLen int) []Report {
	var out []Report
	fixed := batchFixedSize(memberLen, len(scenario))
	var cur *Report
	var index map[string]uint8
	size := 0
	for i, row := range rows {
		reason := Text(row.Reason, MaxReasonLen)
		idx, known := index[reason]
		n := batchEntrySize(row.Value)
		if !known {
			n += 4 + len(reason)
		}
		if cur == nil || len(cur.Batch) == MaxBatchEntries || !known && len(cur.Reasons) == MaxBatchReasons || size+n > MaxSize {
			out = append(out, Report{Type: TypeBatch, Scenario: scenario,
				Batch: make([]BatchEntry, 0, min(len(rows)-i, MaxSize/minBatchEntry))})
			cur = &out[len(out)-1]
			index = map[string]uint8{}
			size = fixed
			known = false
			n = batchEntrySize(row.Value) + 4 + len(reason)
		}
		if !known {
			idx = uint8(len(cur.Reasons))
			index[reason] = idx
			cur.Reasons = append(cur.Reasons, reason)
		}
		d := min(max(row.Duration, 0), MaxDuration)
		d = (d + time.Second - 1) / time.Second * time.Second
		cur.Batch = append(cur.Batch, BatchEntry{Value: row.Value, Duration: d, Reason: idx})
		size += n
	}
	return out
}
