package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"time"

	"phalanx/daemon"
	"phalanx/decisionfile"
)

// Limits of one request of an import: the admin API takes bodies of up to
// 1 MiB and daemon.MaxImportRows rows.
const (
	importChunkRows  = 5000
	importChunkBytes = 768 << 10
	// importKeepRefusals bounds the refused rows kept for the listing.
	importKeepRefusals = 10000
)

// cmdDecisionsImport is `phalanx decisions import`.
func cmdDecisionsImport(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("decisions import", flag.ContinueOnError)
	fs.SetOutput(stderr)
	mk := clientFlags(fs, stdout)
	format := fs.String("format", "auto", "the file's `FORMAT`: csv, json, values (one address or range per line), or auto to tell from its start")
	dur := fs.String("duration", "4h", "the `DURATION` of rows that give none (4h, 90m, 7d)")
	reason := fs.String("reason", "import", "the reason recorded for rows that give none (`TEXT`)")
	show := fs.Int("show", 20, "list the first `N` refused rows")
	usageText(fs, `
Usage: phalanx decisions import [--format csv|json|values] [--duration 4h] [--reason TEXT] FILE|-

Bans every address and range in FILE (- for standard input) on every member,
as signed batch reports of a few thousand bans each. It reads what
"cscli decisions import" reads:

  CSV with a header line naming its columns: value (required), duration,
      reason, scope (ip or range), type (ban), origin, scenario;
  JSON, an array of objects with the same keys;
  values, one address or CIDR range per line, "#" starting a comment.

Each row is checked as "phalanx decisions add" checks a ban: territory, the
charter's widest range and longest manual ban, a reason without control
characters. A bad row is skipped and listed by its line; it never stops the
import. Rows without a duration or reason take --duration and --reason; a
row without a reason takes its scenario.

Exit status: 0 when every row was imported; 1 when any row was refused (the
others are imported all the same) or the import failed; 2 for bad arguments.
`)
	rest, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(rest) != 1 {
		return fmt.Errorf("%w: give one FILE, or - for standard input", errUsage)
	}
	switch *format {
	case "auto", decisionfile.FormatCSV, decisionfile.FormatJSON, decisionfile.FormatValues:
	default:
		return fmt.Errorf("%w: --format %q: use csv, json, values or auto", errUsage, *format)
	}
	if *show < 0 {
		return fmt.Errorf("%w: --show must be 0 or more", errUsage)
	}
	c, err := mk()
	if err != nil {
		return err
	}
	in := stdin
	if rest[0] != "-" {
		f, err := os.Open(rest[0])
		if err != nil {
			return fmt.Errorf("open the file to import: %w", err)
		}
		defer f.Close()
		in = f
	}
	br := bufio.NewReaderSize(in, 64<<10)
	if *format == "auto" {
		head, _ := br.Peek(4096) // an error here shows again on reading
		*format = decisionfile.Detect(head)
	}
	rd, err := decisionfile.NewReader(br, *format)
	if err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}

	im := importer{c: c, ctx: ctx, start: time.Now()}
	var readErr error
	for {
		row, err := rd.Next()
		var bad *decisionfile.RowError
		if errors.As(err, &bad) {
			im.refuse(daemon.ImportRefusal{Line: bad.Line, Reason: bad.Err})
			continue
		}
		if err != nil {
			if err != io.EOF {
				readErr = err
			}
			break
		}
		r := daemon.ImportRow{Line: row.Line, Value: row.Value, Duration: row.Duration, Reason: row.Reason, Scope: row.Scope, Type: row.Type}
		if r.Duration == "" {
			r.Duration = *dur
		}
		if r.Reason == "" {
			r.Reason = row.Scenario
		}
		if r.Reason == "" {
			r.Reason = *reason
		}
		if err := im.add(r); err != nil {
			break
		}
	}
	if im.err == nil {
		im.flush()
	}
	return im.finish(stdout, *format, *show, readErr)
}

// importer sends rows to the daemon in requests of importChunkRows, one at
// a time, and adds up the answers.
type importer struct {
	c     *client
	ctx   context.Context
	start time.Time

	rows  []daemon.ImportRow
	bytes int

	total    daemon.ImportResult
	refusals []daemon.ImportRefusal
	err      error // the request that failed; no more are sent
}

func (im *importer) refuse(r daemon.ImportRefusal) {
	im.total.Rows++
	im.total.Refused++
	if len(im.refusals) < importKeepRefusals {
		im.refusals = append(im.refusals, r)
	}
}

func (im *importer) add(r daemon.ImportRow) error {
	// What the row takes in JSON, escapes included (the reader turned
	// control characters into U+FFFD already).
	n := 64 + 2*(len(r.Value)+len(r.Duration)+len(r.Reason)+len(r.Scope)+len(r.Type))
	if len(im.rows) == importChunkRows || im.bytes+n > importChunkBytes {
		im.flush()
	}
	im.rows = append(im.rows, r)
	im.bytes += n
	return im.err
}

// flush sends the rows held.
func (im *importer) flush() {
	if len(im.rows) == 0 || im.err != nil {
		return
	}
	res, err := im.post(daemon.ImportRequest{Rows: im.rows})
	if err != nil {
		im.err = err
		return
	}
	im.total.Rows += res.Rows
	im.total.Imported += res.Imported
	im.total.Duplicates += res.Duplicates
	im.total.Refused += res.Refused
	im.total.Reports += res.Reports
	for _, r := range res.Refusals {
		if len(im.refusals) < importKeepRefusals {
			im.refusals = append(im.refusals, r)
		}
	}
	im.rows, im.bytes = im.rows[:0], 0
}

// post sends one request; the daemon answers once its bans are in force.
func (im *importer) post(req daemon.ImportRequest) (daemon.ImportResult, error) {
	var res daemon.ImportResult
	body, err := json.Marshal(req)
	if err != nil {
		return res, err
	}
	ctx, cancel := context.WithTimeout(im.ctx, 5*time.Minute)
	defer cancel()
	hreq, err := http.NewRequestWithContext(ctx, "POST", im.c.base+"/api/decisions/import", bytes.NewReader(body))
	if err != nil {
		return res, err
	}
	hreq.Header.Set("Authorization", "Bearer "+im.c.token)
	hreq.Header.Set("Content-Type", "application/json")
	resp, err := im.c.httpClient().Do(hreq) // plain, TLS or a Unix socket, as the daemon serves
	if err != nil {
		return res, fmt.Errorf("reach the daemon at %s (is `phalanx run` running?): %w", im.c.base, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return res, fmt.Errorf("read the daemon's answer: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		var e struct{ Message string }
		if json.Unmarshal(data, &e) == nil && e.Message != "" {
			return res, errors.New(e.Message)
		}
		return res, fmt.Errorf("daemon answered %s", resp.Status)
	}
	if err := json.Unmarshal(data, &res); err != nil {
		return res, fmt.Errorf("read the daemon's answer: %w", err)
	}
	return res, nil
}

// importSummary is what -o json prints.
type importSummary struct {
	Format     string                 `json:"format"`
	Rows       int                    `json:"rows"`
	Imported   int                    `json:"imported"`
	Duplicates int                    `json:"duplicates"`
	Refused    int                    `json:"refused"`
	Reports    int                    `json:"reports"`
	Seconds    float64                `json:"seconds"`
	Refusals   []daemon.ImportRefusal `json:"refusals"` // the first --show, by line
	Error      string                 `json:"error,omitempty"`
}

// finish prints the outcome and returns the command's error: one when any
// row was refused, the file could not be read to its end, or a request
// failed.
func (im *importer) finish(w io.Writer, format string, show int, readErr error) error {
	// The refused rows by line (the daemon lists the first of each
	// request's only; the count is complete).
	listed := im.refusals
	slices.SortStableFunc(listed, func(a, b daemon.ImportRefusal) int { return a.Line - b.Line })
	first := listed[:min(show, len(listed))]
	t := im.total
	sum := importSummary{Format: format, Rows: t.Rows, Imported: t.Imported, Duplicates: t.Duplicates, Refused: t.Refused,
		Reports: t.Reports, Seconds: time.Since(im.start).Seconds(), Refusals: first}
	var err error
	switch {
	case im.err != nil:
		err = fmt.Errorf("import stopped: %w (%d rows were imported before)", im.err, t.Imported)
	case readErr != nil:
		err = fmt.Errorf("read the file: %w", readErr)
	case t.Refused > 0:
		err = fmt.Errorf("%d of %d rows were refused; the other %d are in force", t.Refused, t.Rows, t.Imported)
	}
	if err != nil {
		sum.Error = err.Error()
	}
	if im.c.json {
		if sum.Refusals == nil {
			sum.Refusals = []daemon.ImportRefusal{}
		}
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		if e := enc.Encode(sum); e != nil {
			return e
		}
		return err
	}
	fmt.Fprintf(w, "imported %d of %d rows (%s) in %.1fs as %d signed reports: %d refused, %d duplicates\n",
		t.Imported, t.Rows, format, sum.Seconds, t.Reports, t.Refused, t.Duplicates)
	if len(first) > 0 {
		fmt.Fprintln(w, "refused:")
		for _, r := range first {
			if r.Value != "" {
				fmt.Fprintf(w, "  line %d: %q: %s\n", r.Line, r.Value, r.Reason)
			} else {
				fmt.Fprintf(w, "  line %d: %s\n", r.Line, r.Reason)
			}
		}
	}
	if more := t.Refused - len(first); more > 0 {
		fmt.Fprintf(w, "  ... and %d more refused rows\n", more)
	}
	return err
}
