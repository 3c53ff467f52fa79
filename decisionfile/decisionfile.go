// Package decisionfile reads the files operators import decisions from:
// CSV with a header line and JSON arrays of objects (the layouts that
// `cscli decisions import` reads: the columns or keys value, duration,
// reason, scope, type, origin and scenario, value required), and plain
// lists of one address or CIDR range per line with "#" comments.
//
// It reads rows one at a time, each with the line it starts on, so that an
// import of a million rows never sits in memory whole, and a bad row is
// reported by line and skipped, never the end of the file. It only splits
// the file into rows: whether a value is an address, a duration a
// duration, or a ban allowed is the daemon's to say (it validates every
// row as a manual decision). It must not do I/O beyond reading the reader
// it is given, and it must not panic on any input: the files come from
// other tools and other people.
package decisionfile

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"
)

// Formats of import files.
const (
	FormatCSV    = "csv"
	FormatJSON   = "json"
	FormatValues = "values"
)

// MaxLine bounds a line of a values or CSV file, and MaxValue a value's
// length once trimmed; longer lines and values are bad rows.
const (
	MaxLine  = 64 << 10
	MaxValue = 128
	maxField = 4096 // bytes of any other field, cut to this
)

// Row is one decision as the file states it, fields trimmed of spaces and
// cut to 4 KiB, otherwise as written (quote them to print them); any field
// but Value may be empty.
type Row struct {
	Line     int    `json:"line"` // 1-based line the row starts on
	Value    string `json:"value"`
	Duration string `json:"duration,omitempty"`
	Reason   string `json:"reason,omitempty"`
	Scope    string `json:"scope,omitempty"`
	Type     string `json:"type,omitempty"`
	Origin   string `json:"origin,omitempty"`
	Scenario string `json:"scenario,omitempty"`
}

// RowError is a row that could not be read: Next returns it and the rest
// of the file can still be read.
type RowError struct {
	Line int
	Err  string
}

func (e *RowError) Error() string { return fmt.Sprintf("line %d: %s", e.Line, e.Err) }

// Detect guesses the format of a file from its first bytes (at least the
// first line): JSON when the first character that is not a space is "[",
// CSV when the first line that is not blank names a "value" column among
// comma-separated names, and values otherwise.
func Detect(head []byte) string {
	head = bytes.TrimPrefix(head, []byte("\xef\xbb\xbf"))
	t := bytes.TrimLeft(head, " \t\r\n")
	if len(t) > 0 && t[0] == '[' {
		return FormatJSON
	}
	line, _, _ := bytes.Cut(t, []byte("\n"))
	if bytes.IndexByte(line, ',') >= 0 {
		for _, f := range bytes.Split(line, []byte(",")) {
			if strings.EqualFold(strings.Trim(strings.TrimSpace(string(f)), `"`), "value") {
				return FormatCSV
			}
		}
	}
	return FormatValues
}

// Reader reads rows from an import file.
type Reader struct {
	next func() (Row, error)
}

// NewReader returns a Reader of r in format (FormatCSV, FormatJSON or
// FormatValues). A CSV file's header is read at the first Next.
func NewReader(r io.Reader, format string) (*Reader, error) {
	switch format {
	case FormatCSV:
		return &Reader{next: newCSV(r).next}, nil
	case FormatJSON:
		return &Reader{next: newJSON(r).next}, nil
	case FormatValues:
		return &Reader{next: newValues(r).next}, nil
	}
	return nil, fmt.Errorf("unknown format %q: use %s, %s or %s", format, FormatCSV, FormatJSON, FormatValues)
}

// Next returns the next row. A *RowError is a bad row: report it and call
// Next again. io.EOF ends the file; any other error (a read error, a CSV
// header without a value column, JSON broken past repair) ends it too, and
// the rows read until then stand.
func (r *Reader) Next() (Row, error) { return r.next() }

// bound trims s and cuts it to max bytes on a character boundary. It
// changes nothing else: whether a reason's characters are allowed is the
// daemon's to judge, as for a manual ban.
func bound(s string, max int) string {
	s = strings.TrimSpace(s)
	if len(s) <= max {
		return s
	}
	cut := max
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut]
}

// rowOf checks a row's value and bounds its other fields.
func rowOf(line int, value string, fields ...*string) (Row, error) {
	v := strings.TrimSpace(value)
	switch {
	case v == "":
		return Row{}, &RowError{line, "no value; give an address or a CIDR range"}
	case len(v) > MaxValue:
		return Row{}, &RowError{line, fmt.Sprintf("a value of %d bytes is no address or range", len(v))}
	}
	for _, f := range fields {
		*f = bound(*f, maxField)
	}
	return Row{Line: line, Value: v}, nil
}

// values reads one value per line.
type values struct {
	br   *bufio.Reader
	line int
}

func newValues(r io.Reader) *values {
	return &values{br: bufio.NewReaderSize(r, MaxLine)}
}

func (v *values) next() (Row, error) {
	for {
		line, err := v.br.ReadSlice('\n')
		if len(line) == 0 && err != nil {
			if err == io.EOF {
				return Row{}, io.EOF
			}
			return Row{}, fmt.Errorf("read: %w", err)
		}
		v.line++
		if err == bufio.ErrBufferFull {
			for err == bufio.ErrBufferFull {
				_, err = v.br.ReadSlice('\n')
			}
			if err != nil && err != io.EOF {
				return Row{}, fmt.Errorf("read: %w", err)
			}
			return Row{}, &RowError{v.line, fmt.Sprintf("a line longer than %d bytes", MaxLine)}
		}
		if err != nil && err != io.EOF {
			return Row{}, fmt.Errorf("read: %w", err)
		}
		if v.line == 1 {
			line = bytes.TrimPrefix(line, []byte("\xef\xbb\xbf"))
		}
		if i := bytes.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		s := strings.TrimSpace(string(line))
		if s == "" {
			continue
		}
		return rowOf(v.line, s)
	}
}

// columns of a CSV file, by name.
var columns = []string{"value", "duration", "reason", "scope", "type", "origin", "scenario"}

// csvRows reads a CSV file with a header.
type csvRows struct {
	cr     *csv.Reader
	header []int // index of each of columns in a record, -1 when absent
	n      int   // fields in the header
	line   int   // of the last record read
	err    error // sticky
}

func newCSV(r io.Reader) *csvRows {
	cr := csv.NewReader(&lineLimit{r: bufio.NewReader(r)})
	cr.FieldsPerRecord = -1
	cr.LazyQuotes = true
	cr.ReuseRecord = true
	cr.Comment = '#'
	return &csvRows{cr: cr}
}

func (c *csvRows) next() (Row, error) {
	if c.err != nil {
		return Row{}, c.err
	}
	for {
		before := c.cr.InputOffset()
		rec, err := c.cr.Read()
		line := 0
		if err == nil && len(rec) > 0 {
			line, _ = c.cr.FieldPos(0)
			c.line = line
		}
		var pe *csv.ParseError
		switch {
		case err == io.EOF:
			if c.header == nil {
				c.err = errors.New("the file is empty: a CSV file starts with a header line naming its columns, such as value,duration,reason")
				return Row{}, c.err
			}
			c.err = io.EOF
			return Row{}, io.EOF
		case errors.Is(err, errLineTooLong):
			c.err = fmt.Errorf("after line %d: a line longer than %d bytes; is this a CSV file?", c.line, MaxLine)
			return Row{}, c.err
		case errors.As(err, &pe) && c.cr.InputOffset() > before:
			if c.header == nil {
				c.err = fmt.Errorf("the header: %v", pe.Err)
				return Row{}, c.err
			}
			return Row{}, &RowError{pe.StartLine, pe.Err.Error()}
		case err != nil:
			c.err = fmt.Errorf("read: %w", err)
			return Row{}, c.err
		}
		if c.header == nil {
			if err := c.readHeader(rec); err != nil {
				c.err = err
				return Row{}, err
			}
			continue
		}
		if len(rec) == 1 && strings.TrimSpace(rec[0]) == "" {
			continue // a blank line
		}
		if len(rec) != c.n {
			return Row{}, &RowError{line, fmt.Sprintf("%d fields, the header names %d", len(rec), c.n)}
		}
		var f [7]string
		for i, at := range c.header {
			if at >= 0 {
				f[i] = rec[at]
			}
		}
		row, err := rowOf(line, f[0], &f[1], &f[2], &f[3], &f[4], &f[5], &f[6])
		if err != nil {
			return Row{}, err
		}
		row.Duration, row.Reason, row.Scope, row.Type, row.Origin, row.Scenario = f[1], f[2], f[3], f[4], f[5], f[6]
		return row, nil
	}
}

func (c *csvRows) readHeader(rec []string) error {
	c.header = make([]int, len(columns))
	for i := range c.header {
		c.header[i] = -1
	}
	for at, name := range rec {
		name = strings.ToLower(strings.TrimSpace(strings.TrimPrefix(name, "\ufeff")))
		for i, col := range columns {
			if name == col && c.header[i] < 0 {
				c.header[i] = at
			}
		}
	}
	c.n = len(rec)
	if c.header[0] < 0 {
		return fmt.Errorf("the header (line 1) names no value column: name the columns, such as value,duration,reason (or use --format values for one address per line)")
	}
	return nil
}

// errLineTooLong is lineLimit's error.
var errLineTooLong = errors.New("line too long")

// lineLimit fails a read once a line passes MaxLine bytes, so that a file
// without line breaks is not read into one record.
type lineLimit struct {
	r   *bufio.Reader
	run int // bytes since the last line break
}

func (l *lineLimit) Read(p []byte) (int, error) {
	n, err := l.r.Read(p)
	for _, b := range p[:n] {
		if b == '\n' {
			l.run = 0
		} else if l.run++; l.run > MaxLine {
			return 0, errLineTooLong
		}
	}
	return n, err
}

// jsonRows reads a JSON array of objects.
type jsonRows struct {
	dec   *json.Decoder
	lines *lineCounter
	start bool
	err   error // sticky
}

func newJSON(r io.Reader) *jsonRows {
	lc := &lineCounter{r: r}
	return &jsonRows{dec: json.NewDecoder(lc), lines: lc}
}

// jsonRow is an object of the array; unknown keys are ignored, as cscli
// does.
type jsonRow struct {
	Value    *string `json:"value"`
	Duration string  `json:"duration"`
	Reason   string  `json:"reason"`
	Scope    string  `json:"scope"`
	Type     string  `json:"type"`
	Origin   string  `json:"origin"`
	Scenario string  `json:"scenario"`
}

func (j *jsonRows) next() (Row, error) {
	if j.err != nil {
		return Row{}, j.err
	}
	fail := func(err error) (Row, error) {
		line := j.lines.lineAt(j.dec.InputOffset())
		var se *json.SyntaxError
		if errors.As(err, &se) {
			line = j.lines.lineAt(se.Offset)
		}
		if err == io.EOF || errors.Is(err, io.ErrUnexpectedEOF) {
			line = j.lines.lineAt(j.lines.read)
			j.err = fmt.Errorf("line %d: the JSON ends before its array does; is the file complete?", line)
		} else {
			j.err = fmt.Errorf("line %d: %v (the rows before it were read; fix the file and import it again)", line, err)
		}
		return Row{}, j.err
	}
	if !j.start {
		tok, err := j.dec.Token()
		if err == io.EOF {
			j.err = errors.New("the file is empty: a JSON file holds an array of objects, such as [{\"value\": \"192.0.2.1\"}]")
			return Row{}, j.err
		}
		if err != nil {
			return fail(err)
		}
		if d, ok := tok.(json.Delim); !ok || d != '[' {
			return fail(errors.New(`the file is not a JSON array: write [{"value": "192.0.2.1", "duration": "4h"}, ...]`))
		}
		j.start = true
	}
	if !j.dec.More() {
		if _, err := j.dec.Token(); err != nil { // the closing ]
			return fail(err)
		}
		if _, err := j.dec.Token(); err != io.EOF {
			if err == nil {
				err = errors.New("data after the array")
			}
			return fail(err)
		}
		j.err = io.EOF
		return Row{}, io.EOF
	}
	var raw json.RawMessage
	if err := j.dec.Decode(&raw); err != nil {
		return fail(err)
	}
	end := j.dec.InputOffset()
	line := j.lines.lineAt(end - int64(len(raw)))
	if len(raw) == 0 || raw[0] != '{' {
		return Row{}, &RowError{line, "not an object; each element is an object such as {\"value\": \"192.0.2.1\"}"}
	}
	var o jsonRow
	if err := json.Unmarshal(raw, &o); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return Row{}, &RowError{line, fmt.Sprintf("%s is a JSON %s; write it as a string", te.Field, te.Value)}
		}
		return Row{}, &RowError{line, err.Error()}
	}
	if o.Value == nil {
		return Row{}, &RowError{line, "no \"value\" key; give an address or a CIDR range"}
	}
	row, err := rowOf(line, *o.Value, &o.Duration, &o.Reason, &o.Scope, &o.Type, &o.Origin, &o.Scenario)
	if err != nil {
		return Row{}, err
	}
	row.Duration, row.Reason, row.Scope, row.Type, row.Origin, row.Scenario = o.Duration, o.Reason, o.Scope, o.Type, o.Origin, o.Scenario
	return row, nil
}

// lineCounter counts line breaks in what it reads, so that an offset the
// JSON decoder gives can be told as a line. Offsets asked for only grow,
// so it keeps only the breaks read ahead of the last one asked for.
type lineCounter struct {
	r     io.Reader
	read  int64   // bytes read so far
	ahead []int64 // offsets of line breaks not yet passed
	line  int     // lines before the last offset asked for, plus one
	at    int64   // the last offset asked for
}

func (l *lineCounter) Read(p []byte) (int, error) {
	n, err := l.r.Read(p)
	for i, b := range p[:n] {
		if b == '\n' {
			l.ahead = append(l.ahead, l.read+int64(i))
		}
	}
	l.read += int64(n)
	return n, err
}

// lineAt returns the 1-based line of offset; offsets before the last one
// asked for count as it.
func (l *lineCounter) lineAt(off int64) int {
	if l.line == 0 {
		l.line = 1
	}
	k := 0
	for k < len(l.ahead) && l.ahead[k] < off {
		k++
	}
	l.line += k
	l.ahead = l.ahead[k:]
	if len(l.ahead) == 0 {
		l.ahead = nil
	}
	return l.line
}
