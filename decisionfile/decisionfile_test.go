package decisionfile

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
)

// readAll returns the rows and the bad rows of a file, "line N: ..." each,
// and the error that ended it (nil for io.EOF).
func readAll(t testing.TB, in, format string) (rows []Row, bad []string, err error) {
	t.Helper()
	r, err := NewReader(strings.NewReader(in), format)
	if err != nil {
		t.Fatal(err)
	}
	for range 1_000_000 {
		row, err := r.Next()
		var re *RowError
		switch {
		case err == io.EOF:
			return rows, bad, nil
		case errors.As(err, &re):
			bad = append(bad, re.Error())
		case err != nil:
			return rows, bad, err
		default:
			rows = append(rows, row)
		}
	}
	t.Fatal("Next never ended")
	return
}

func brief(rows []Row) string {
	var b []string
	for _, r := range rows {
		s := fmt.Sprintf("%d:%s", r.Line, r.Value)
		for _, f := range []string{r.Duration, r.Reason, r.Scope, r.Type, r.Origin, r.Scenario} {
			if f != "" {
				s += "|" + f
			}
		}
		b = append(b, s)
	}
	return strings.Join(b, " ")
}

func TestDetect(t *testing.T) {
	for in, want := range map[string]string{
		"[{\"value\":\"1.2.3.4\"}]":  FormatJSON,
		"\n  [\n":                    FormatJSON,
		"\xef\xbb\xbf[]":             FormatJSON,
		"value,duration\n1.2.3.4,4h": FormatCSV,
		"duration,scope,Value\n":     FormatCSV,
		"\"value\",\"reason\"\n":     FormatCSV,
		"1.2.3.4\n5.6.7.8\n":         FormatValues,
		"# a list\n192.0.2.0/24\n":   FormatValues,
		"1.2.3.4,5.6.7.8\n":          FormatValues,
		"":                           FormatValues,
	} {
		if got := Detect([]byte(in)); got != want {
			t.Errorf("Detect(%q) = %s, want %s", in, got, want)
		}
	}
}

func TestValues(t *testing.T) {
	in := "\xef\xbb\xbf# a list\n192.0.2.1\n\n  198.51.100.0/24   # a range\n" + strings.Repeat("x", MaxLine+10) + "\n2001:db8::1\r\n" +
		strings.Repeat("9", MaxValue+1) + "\nnot an address\n\t# only a comment\n203.0.113.7"
	rows, bad, err := readAll(t, in, FormatValues)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := brief(rows), "2:192.0.2.1 4:198.51.100.0/24 6:2001:db8::1 8:not an address 10:203.0.113.7"; got != want {
		t.Errorf("rows %s\nwant %s", got, want)
	}
	if got := strings.Join(bad, "; "); !strings.HasPrefix(got, "line 5: a line longer than") || !strings.Contains(got, "line 7: a value of 129 bytes") {
		t.Errorf("bad rows: %s", got)
	}
}

func TestCSV(t *testing.T) {
	in := "Duration, Scope,value,reason,type,origin,scenario,extra\n" +
		"24h,ip,192.0.2.1,scanner,ban,cscli,crowdsecurity/ssh-bf,x\n" +
		"# a comment\n" +
		",range,198.51.100.0/24,,,,,\n" +
		"1h,ip,192.0.2.2\n" + // too few fields
		"\n" +
		"4h,ip,\"2001:db8::1\",\"a reason, with a comma\",ban,,,\n" +
		"4h,ip,,no value,ban,,,\n" +
		"4h,ip,\"multi\nline\",x,ban,,,\n" +
		"1h,ip,203.0.113.9,\"ctl\x1b[2J\",ban,,,\n"
	rows, bad, err := readAll(t, in, FormatCSV)
	if err != nil {
		t.Fatal(err)
	}
	want := "2:192.0.2.1|24h|scanner|ip|ban|cscli|crowdsecurity/ssh-bf 4:198.51.100.0/24|range 7:2001:db8::1|4h|a reason, with a comma|ip|ban 9:multi\nline|4h|x|ip|ban 11:203.0.113.9|1h|ctl\x1b[2J|ip|ban"
	if got := brief(rows); got != want {
		t.Errorf("rows %q\nwant %q", got, want)
	}
	if got, want := strings.Join(bad, "; "), "line 5: 3 fields, the header names 8; line 8: no value; give an address or a CIDR range"; got != want {
		t.Errorf("bad rows %q\nwant %q", got, want)
	}
}

func TestCSVHeader(t *testing.T) {
	for in, want := range map[string]string{
		"":                          "the file is empty",
		"ip,duration\n1.2.3.4,4h\n": "names no value column",
		"value\n" + strings.Repeat("1", MaxLine+1): "a line longer than",
	} {
		_, _, err := readAll(t, in, FormatCSV)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%.40q: %v, want an error saying %q", in, err, want)
		}
	}
	// A header alone is a file without rows.
	if rows, bad, err := readAll(t, "value\n", FormatCSV); err != nil || len(rows)+len(bad) != 0 {
		t.Errorf("a header alone: %v %v %v", rows, bad, err)
	}
}

func TestJSON(t *testing.T) {
	in := `[
  {"value": "192.0.2.1", "duration": "24h", "reason": "scanner", "scope": "Ip", "type": "ban", "origin": "cscli", "scenario": "x/y", "extra": 1},
  {"value": 42},
  "192.0.2.9",
  {"duration": "4h"},
  {
    "value": "198.51.100.0/24"
  },
  {"value": ""},
  {"value": "2001:db8::1"}
]
`
	rows, bad, err := readAll(t, in, FormatJSON)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := brief(rows), "2:192.0.2.1|24h|scanner|Ip|ban|cscli|x/y 6:198.51.100.0/24 10:2001:db8::1"; got != want {
		t.Errorf("rows %s\nwant %s", got, want)
	}
	want := "line 3: value is a JSON number; write it as a string; line 4: not an object; each element is an object such as {\"value\": \"192.0.2.1\"}; line 5: no \"value\" key; give an address or a CIDR range; line 9: no value; give an address or a CIDR range"
	if got := strings.Join(bad, "; "); got != want {
		t.Errorf("bad rows %s\nwant %s", got, want)
	}
	// One line: every row is on line 1.
	rows, _, err = readAll(t, `[{"value":"192.0.2.1"},{"value":"192.0.2.2"}]`, FormatJSON)
	if err != nil || brief(rows) != "1:192.0.2.1 1:192.0.2.2" {
		t.Errorf("one line: %s %v", brief(rows), err)
	}
}

func TestJSONBroken(t *testing.T) {
	for in, want := range map[string]string{
		"":                       "the file is empty",
		`{"value": "192.0.2.1"}`: "not a JSON array",
		"[\n{\"value\": \"192.0.2.1\"},\n{\"value\"": "line 3: the JSON ends before its array does",
		"[\n{\"value\": \"192.0.2.1\"}\n{}]":         "line 3:",
		"[]\n[]":                                     "data after the array",
	} {
		rows, _, err := readAll(t, in, FormatJSON)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want an error saying %q", in, err, want)
		}
		if strings.Contains(in, "192.0.2.1") && !strings.Contains(in, "{\"value\": \"192.0.2.1\"}\n{}") && in[0] == '[' && len(rows) != 1 {
			t.Errorf("%q: the row before the break was not read: %v", in, rows)
		}
	}
}

// fuzzRead reads a fuzzed file in format: it ends, rows have values within
// bounds and increasing lines, and nothing panics.
func fuzzRead(t *testing.T, in []byte, format string) {
	r, err := NewReader(strings.NewReader(string(in)), format)
	if err != nil {
		t.Fatal(err)
	}
	last := 0
	for i := 0; ; i++ {
		if i > len(in)+2 {
			t.Fatalf("more rows (%d) than bytes (%d)", i, len(in))
		}
		row, err := r.Next()
		var re *RowError
		if errors.As(err, &re) {
			if re.Line < 1 {
				t.Fatalf("bad row at line %d", re.Line)
			}
			continue
		}
		if err != nil {
			if _, again := r.Next(); again == nil {
				t.Fatal("Next returned a row after the end")
			}
			return
		}
		if row.Value == "" || len(row.Value) > MaxValue || row.Line < last || row.Line < 1 {
			t.Fatalf("row %+v after line %d", row, last)
		}
		last = row.Line
	}
}

func FuzzValues(f *testing.F) {
	f.Add([]byte("# list\n192.0.2.1\n198.51.100.0/24 # x\n\n2001:db8::1\r\n"))
	f.Fuzz(func(t *testing.T, in []byte) { fuzzRead(t, in, FormatValues) })
}

func FuzzCSV(f *testing.F) {
	f.Add([]byte("value,duration,reason\n192.0.2.1,4h,x\n\"198.51.100.0/24\",,\"a, b\"\n"))
	f.Add([]byte("duration,value\n4h,\"unterminated\n1h,192.0.2.1\n"))
	f.Fuzz(func(t *testing.T, in []byte) { fuzzRead(t, in, FormatCSV) })
}

func FuzzJSON(f *testing.F) {
	f.Add([]byte(`[{"value":"192.0.2.1","duration":"4h"},{"value":7},"x",{}]`))
	f.Add([]byte("[\n{\"value\": \"192.0.2.1\"},\n{\"value\""))
	f.Fuzz(func(t *testing.T, in []byte) { fuzzRead(t, in, FormatJSON) })
}
