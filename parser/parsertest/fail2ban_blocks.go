package parsertest

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// BlockSample is a line of a fail2ban sample file as fail2ban's own sample
// test reads it: the whole failJSON annotation before it (nil when none),
// and the filter option sets of its "# filterOptions:" block, each merged
// over the file's "# fileOptions:".
type BlockSample struct {
	No      int
	Text    string
	Fields  map[string]any   // the failJSON object; nil for an unannotated line
	Options []map[string]any // the block's option sets; nil before any block
	Block   int              // counts filterOptions blocks in the file
}

var reSampleDirective = regexp.MustCompile(`^#+ ?(failJSON|fileOptions|filterOptions|addFILE):(.+)$`)

// ReadSampleBlocks reads one sample file the way fail2ban's sample test
// does: the line after a failJSON annotation is the sample, whatever it
// holds; other lines are samples unless blank or comments. It also returns
// the files the sample file adds with "# addFILE:".
func ReadSampleBlocks(t testing.TB, name string) ([]*BlockSample, []string) {
	t.Helper()
	fh, err := os.Open(filepath.Join(Fail2banLogs, name))
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	var out []*BlockSample
	var adds []string
	var fileOpts map[string]any
	var opts []map[string]any
	block := 0
	sc := bufio.NewScanner(fh)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	no := 0
	next := func() (string, bool) {
		if !sc.Scan() {
			return "", false
		}
		no++
		return strings.TrimRight(sc.Text(), "\r\n"), true
	}
	for {
		line, ok := next()
		if !ok {
			break
		}
		m := reSampleDirective.FindStringSubmatch(line)
		if m == nil {
			if strings.HasPrefix(line, "#") || strings.TrimSpace(line) == "" {
				continue
			}
			out = append(out, &BlockSample{No: no, Text: line, Options: opts, Block: block})
			continue
		}
		switch m[1] {
		case "fileOptions":
			if err := json.Unmarshal([]byte(m[2]), &fileOpts); err != nil {
				t.Fatalf("%s:%d: %v", name, no, err)
			}
		case "filterOptions":
			var raw any
			if err := json.Unmarshal([]byte(m[2]), &raw); err != nil {
				t.Fatalf("%s:%d: %v", name, no, err)
			}
			list, isList := raw.([]any)
			if !isList {
				list = []any{raw}
			}
			opts = nil
			for _, o := range list {
				merged := map[string]any{}
				for k, v := range fileOpts {
					merged[k] = v
				}
				if om, ok := o.(map[string]any); ok {
					for k, v := range om {
						merged[k] = v
					}
				}
				opts = append(opts, merged)
			}
			block++
		case "addFILE":
			var f string
			if err := json.Unmarshal([]byte(m[2]), &f); err != nil {
				t.Fatalf("%s:%d: %v", name, no, err)
			}
			adds = append(adds, f)
		case "failJSON":
			var fields map[string]any
			if err := json.Unmarshal([]byte(m[2]), &fields); err != nil {
				t.Fatalf("%s:%d: %v", name, no, err)
			}
			text, ok := next()
			if !ok {
				t.Fatalf("%s:%d: failJSON at the end of the file", name, no)
			}
			out = append(out, &BlockSample{No: no, Text: text, Fields: fields, Options: opts, Block: block})
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return out, adds
}
