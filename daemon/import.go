package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"phalanx"
	"phalanx/arbiter"
	"phalanx/decision"
	"phalanx/report"
)

// Bulk import: POST /api/decisions/import takes rows (an operator's file,
// read and split by the CLI, see package decisionfile), validates each as
// a manual ban is validated (checkManual, territory), and publishes the
// good ones as signed batch reports (report.TypeBatch) of a few thousand
// bans each, rather than one report per ban: a report costs one unit of
// the member's rate, and a member's rate (limits.reports_per_minute) is
// far below an import's size. Every member's arbiter decides each entry of
// a batch as a manual ban (arbiter.DecidedBatch); applyBatch enforces them.
//
// The CLI sends a file in requests of at most MaxImportRows rows (and the
// admin API's body limit), one after another: each answers once its bans
// are in force here.

// Limits of one import request.
const (
	// MaxImportRows bounds the rows of one request.
	MaxImportRows = 10000
	// MaxImportRefusals bounds the refused rows an answer lists (it counts
	// them all).
	MaxImportRefusals = 100
	// importScenario names the batches.
	importScenario = "import"
	// importWait bounds how long a request waits for its bans without any
	// progress (the fabric down, or the member's rate used up).
	importWait = 30 * time.Second
)

// ImportRow is one decision of POST /api/decisions/import, as the file
// stated it.
type ImportRow struct {
	Line     int    `json:"line"`               // in the operator's file, for the answer
	Value    string `json:"value"`              // address or CIDR range
	Duration string `json:"duration,omitempty"` // Go duration, or days such as 7d or 1d12h; default 4h
	Reason   string `json:"reason,omitempty"`
	Scope    string `json:"scope,omitempty"` // "", ip or range (any case)
	Type     string `json:"type,omitempty"`  // "" or ban
}

// ImportRequest is the body of POST /api/decisions/import.
type ImportRequest struct {
	Rows []ImportRow `json:"rows"`
}

// ImportRefusal is a row that was not imported, and why.
type ImportRefusal struct {
	Line   int    `json:"line"`
	Value  string `json:"value"`
	Reason string `json:"reason"`
}

// ImportResult is the answer to POST /api/decisions/import.
type ImportResult struct {
	Rows       int             `json:"rows"`       // received
	Imported   int             `json:"imported"`   // in force now, as asked or longer
	Duplicates int             `json:"duplicates"` // values given again in the request (the longest ban counts)
	Refused    int             `json:"refused"`
	Refusals   []ImportRefusal `json:"refusals,omitempty"` // the first MaxImportRefusals refused rows
	Reports    int             `json:"reports"`            // signed batch reports published
}

// decodeImport decodes an import request strictly: unknown keys, data
// after the object, more than MaxImportRows rows and a body over the admin
// API's limit are refused; lines and values are not judged here.
func decodeImport(r io.Reader) (ImportRequest, error) {
	var req ImportRequest
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return ImportRequest{}, fmt.Errorf("%w: the body is larger than %d bytes; send at most %d rows a request", errTooLarge, tooBig.Limit, MaxImportRows)
		}
		return ImportRequest{}, fmt.Errorf("%w: %v", errBadRequest, err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return ImportRequest{}, fmt.Errorf("%w: data after the JSON object; send one object", errBadRequest)
	}
	switch n := len(req.Rows); {
	case n == 0:
		return ImportRequest{}, fmt.Errorf("%w: no rows; send {\"rows\": [{\"line\": 1, \"value\": \"192.0.2.1\"}, ...]}", errBadRequest)
	case n > MaxImportRows:
		return ImportRequest{}, fmt.Errorf("%w: %d rows, more than %d a request; split the file", errTooLarge, n, MaxImportRows)
	}
	return req, nil
}

// parseImportDuration parses a Go duration, optionally led by whole days
// ("7d", "1d12h"), as exported decisions spell them; it must be positive.
func parseImportDuration(s string) (time.Duration, error) {
	bad := fmt.Errorf("%w: duration %q: give a positive duration such as 4h, 90m or 7d", errBadRequest, s)
	var days time.Duration
	if i := strings.IndexByte(s, 'd'); i > 0 {
		n, err := strconv.ParseUint(s[:i], 10, 16)
		if err != nil {
			return 0, bad
		}
		days, s = time.Duration(n)*24*time.Hour, s[i+1:]
	}
	var d time.Duration
	if s != "" {
		var err error
		if d, err = time.ParseDuration(s); err != nil {
			return 0, bad
		}
	}
	if d+days <= 0 || d < 0 {
		return 0, bad
	}
	return d + days, nil
}

// checkImportRow validates one row as apiAddDecision validates a manual
// ban (the charter's width and duration limits, territory, the reason's
// characters, whether this member may ban by hand), and returns it as a
// batch row. terr is territory under the charter in force.
func (d *Daemon) checkImportRow(row ImportRow, terr *territorySet, now time.Time) (report.BatchRow, error) {
	p, err := parseValue(row.Value)
	if err != nil {
		return report.BatchRow{}, err
	}
	if s := strings.ToLower(row.Scope); s != "" && s != "ip" && s != "range" {
		return report.BatchRow{}, fmt.Errorf("%w: scope %q: only addresses and ranges (ip, range) are banned", errBadRequest, row.Scope)
	}
	if row.Type != "" && !strings.EqualFold(row.Type, "ban") {
		return report.BatchRow{}, fmt.Errorf("%w: type %q: only ban is supported", errBadRequest, row.Type)
	}
	dur := 4 * time.Hour
	if row.Duration != "" {
		if dur, err = parseImportDuration(row.Duration); err != nil {
			return report.BatchRow{}, err
		}
	}
	if p.IsValid() && terr.has(p) {
		return report.BatchRow{}, fmt.Errorf("%w: %s is territory (loopback, a member's address or the charter's territory) and is never banned", errTerritory, p)
	}
	reason := row.Reason
	if len(reason) > 256 {
		cut := 256
		for cut > 0 && !utf8.RuneStart(reason[cut]) {
			cut--
		}
		reason = reason[:cut]
	}
	rep := report.Report{Type: report.TypeManual, Time: now, Scenario: importScenario, Value: p, Duration: dur, Reason: reason}
	if err := d.checkManual(rep); err != nil {
		return report.BatchRow{}, err
	}
	return report.BatchRow{Value: p, Duration: dur, Reason: reason}, nil
}

func (d *Daemon) apiImportDecisions(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxAdminBody)
	req, err := decodeImport(r.Body)
	if err != nil {
		writeErr(w, err)
		return
	}
	res, err := d.importRows(r.Context(), req.Rows)
	if err != nil {
		writeErr(w, err)
		return
	}
	writeJSON(w, http.StatusOK, res)
}

// importRows validates rows, publishes the good ones as batch reports and
// waits until their bans are in force here.
func (d *Daemon) importRows(ctx context.Context, rows []ImportRow) (ImportResult, error) {
	res := ImportResult{Rows: len(rows)}
	now := d.now().UTC()
	terr := newTerritorySet(&d.charter().c)
	good := make([]report.BatchRow, 0, len(rows))
	for _, row := range rows {
		br, err := d.checkImportRow(row, terr, now)
		if errors.Is(err, errForbidden) {
			return res, err // the member may not ban by hand at all
		}
		if err != nil {
			res.Refused++
			if len(res.Refusals) < MaxImportRefusals {
				res.Refusals = append(res.Refusals, ImportRefusal{Line: row.Line, Value: report.Text(row.Value, 64), Reason: refusalText(err)})
			}
			continue
		}
		good = append(good, br)
	}
	// Each value once: the longest ban asked for counts.
	slices.SortStableFunc(good, func(a, b report.BatchRow) int {
		if c := comparePrefix(a.Value, b.Value); c != 0 {
			return c
		}
		return -compareDuration(a.Duration, b.Duration)
	})
	good = slices.CompactFunc(good, func(a, b report.BatchRow) bool { return a.Value == b.Value })
	res.Duplicates = len(rows) - res.Refused - len(good)
	if len(good) == 0 {
		return res, nil
	}
	reps := report.PackBatch(importScenario, good, len(d.id.ID))
	res.Reports = len(reps)
	imported, err := d.publishBatches(ctx, reps)
	res.Imported = imported
	if err != nil {
		d.log.Warn("import: bans not in force in time", "rows", len(rows), "imported", imported, "err", err)
		return res, err
	}
	d.log.Info("imported bans", "rows", len(rows), "imported", imported, "refused", res.Refused, "duplicates", res.Duplicates, "reports", len(reps))
	return res, nil
}

func compareDuration(a, b time.Duration) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// refusalText is err's message without the error kind's prefix.
func refusalText(err error) string {
	s := err.Error()
	for _, k := range []error{errBadRequest, errTerritory, errForbidden} {
		if rest, ok := strings.CutPrefix(s, k.Error()+": "); ok {
			return rest
		}
	}
	return s
}

// publishBatches signs and stores reps in waves that the member's own rate
// lets through (its arbiter rejects reports past limits.reports_per_minute,
// and a rejected batch would be lost on every member, this one included),
// keeping a tenth of the rate for detection, and waits after each wave
// until its bans are in force here. It returns how many of the entries are
// in force; an error when no progress was made for importWait.
func (d *Daemon) publishBatches(ctx context.Context, reps []report.Report) (int, error) {
	imported := 0
	stalled := time.Now()
	for len(reps) > 0 {
		k := d.importAllowance()
		if k <= 0 {
			if time.Since(stalled) > importWait {
				return imported, fmt.Errorf("%w: the charter's report rate (limits.reports_per_minute) is used up by this member's reports; %d bans are in force, try the rest later", errTimeout, imported)
			}
			if err := sleepCtx(ctx, 100*time.Millisecond); err != nil {
				return imported, err
			}
			continue
		}
		wave := reps[:min(k, len(reps))]
		reps = reps[len(wave):]
		now := d.now().UTC()
		for i := range wave {
			wave[i].Time = now
		}
		d.store(wave)
		d.kickPublisher()
		n, err := d.awaitBatches(ctx, wave)
		imported += n
		if err != nil {
			return imported, err
		}
		stalled = time.Now()
	}
	return imported, nil
}

// importAllowance is how many batch reports this member may publish now
// without its own arbiter rejecting them for its rate, less a tenth of
// the rate kept for its alerts.
func (d *Daemon) importAllowance() int {
	rpm := d.charter().c.Limits.ReportsPerMinute
	d.consumeMu.Lock()
	n := d.arb.Allowance(d.id.ID, d.now())
	d.consumeMu.Unlock()
	return n - rpm/10
}

// awaitBatches waits until every entry of reps has a ban in force on
// exactly its value (the reports made the round trip through the fabric
// and the arbiter, or a longer ban was there already), and returns how
// many have. It gives up after importWait without progress.
func (d *Daemon) awaitBatches(ctx context.Context, reps []report.Report) (int, error) {
	total := 0
	for i := range reps {
		total += len(reps[i].Batch)
	}
	done, ri, ei := 0, 0, 0
	last := time.Now()
	for {
		now := d.now()
		for ri < len(reps) {
			b := reps[ri].Batch
			if ei == len(b) {
				ri, ei = ri+1, 0
				continue
			}
			if !d.hasBan(b[ei].Value, now) {
				break
			}
			ei++
			done++
			last = time.Now()
		}
		if done == total {
			return done, nil
		}
		if time.Since(last) > importWait {
			return done, fmt.Errorf("%w: %d of %d bans in force after %v without progress (is the fabric healthy? see phalanx status); the rest are queued and apply once published", errTimeout, done, total, importWait)
		}
		if err := sleepCtx(ctx, 5*time.Millisecond); err != nil {
			return done, err
		}
	}
}

// hasBan reports whether a ban on exactly p is in force at now.
func (d *Daemon) hasBan(p netip.Prefix, now time.Time) bool {
	if x, ok := d.table.Lookup(p.Addr(), now); ok && x.Value == p {
		return true // the common case, without Covering's slice
	}
	for _, x := range d.table.Covering(p.Addr(), now) {
		if x.Value == p {
			return true
		}
	}
	return false
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// applyBatch enforces the bans the arbiter decided from a batch report r
// (an operator's import, on this member or another): in chunks, each ban
// with the ID decision.ReportID gives its place in the batch, without a
// timeline entry per ban (an import of a hundred thousand would push every
// incident out of the timeline) and with one log line per batch.
func (d *Daemon) applyBatch(r *report.Report, out arbiter.Outcome, now time.Time) {
	live := make([]phalanx.Decision, 0, len(out.Batch))
	for i, x := range out.Batch {
		if x.Until.After(now) {
			x.ID = decision.ReportID(r.Member, r.Seq, i)
			live = append(live, x)
		}
	}
	bans := len(live)
	for len(live) > 0 { // a batch is at most report.MaxBatchEntries, about one chunk
		k := min(len(live), applyChunk)
		applyBulk(d, live[:k], "imported bans")
		live = live[k:]
	}
	refused := out.Entries.Territory + out.Entries.TooWide
	for range out.Entries.Territory {
		d.countReason(arbiter.ReasonTerritory)
	}
	for range out.Entries.TooWide {
		d.countReason(arbiter.ReasonTooWide)
	}
	d.ctr.refused.Add(int64(refused))
	d.ctr.decided.Add(1)
	if d.caughtUp.Load() {
		d.log.Info("batch of bans", "member", r.Member, "seq", r.Seq, "scenario", r.Scenario, "bans", bans,
			"refused", refused, "ended", len(out.Batch)-bans)
	}
}
