package logline

import (
	"bufio"
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
	"unsafe"
)

// subSlice reports whether s is empty or lies within line.
func subSlice(s, line []byte) bool {
	if len(s) == 0 {
		return true
	}
	if len(line) == 0 {
		return false
	}
	start := uintptr(unsafe.Pointer(unsafe.SliceData(line)))
	p := uintptr(unsafe.Pointer(unsafe.SliceData(s)))
	return p >= start && p+uintptr(len(s)) <= start+uintptr(len(line))
}

func FuzzFrame(f *testing.F) {
	for _, l := range allocLines {
		f.Add([]byte(l))
	}
	if in, err := os.ReadFile(filepath.Join("testdata", "frames.log")); err == nil {
		sc := bufio.NewScanner(bytes.NewReader(in))
		for sc.Scan() {
			f.Add(bytes.Clone(sc.Bytes()))
		}
	}
	for _, l := range []string{
		"Nov  7 05:49:28.1 host sshd[0]: m\r",
		"<0>Feb 29 00:00:00 h p:",
		"2028-02-29T23:59:59.999999999-23:59 h p[2147483647]:",
		`<191>1 - - - - - [a b="\\\]\""][c] ` + "\xef\xbb\xbf",
		"\x00\x00Dec 31 23:59:59 h p: \xff",
	} {
		f.Add([]byte(l))
	}

	// One framer lives across inputs, so its caches carry over; a fresh
	// framer must agree with it on every input.
	kept := NewFramer(testRef, testLoc)
	f.Fuzz(func(t *testing.T, line []byte) {
		var fr Frame
		err := kept.Frame(line, &fr)

		var fresh Frame
		freshErr := NewFramer(testRef, testLoc).Frame(line, &fresh)
		if err != freshErr {
			t.Fatalf("Frame(%q): kept framer says %v, fresh framer %v", line, err, freshErr)
		}
		if err != nil {
			if !errors.Is(err, ErrUnknownFormat) {
				t.Fatalf("Frame(%q) = %v, which does not wrap ErrUnknownFormat", line, err)
			}
			return
		}
		if !fr.Time.Equal(fresh.Time) || !bytes.Equal(fr.Host, fresh.Host) || !bytes.Equal(fr.Program, fresh.Program) ||
			fr.PID != fresh.PID || !bytes.Equal(fr.Message, fresh.Message) || fr.Format != fresh.Format {
			t.Fatalf("Frame(%q): kept framer gives %+v, fresh framer %+v", line, fr, fresh)
		}
		for name, s := range map[string][]byte{"Host": fr.Host, "Program": fr.Program, "Message": fr.Message} {
			if !subSlice(s, line) {
				t.Fatalf("Frame(%q): %s %q is not part of the line", line, name, s)
			}
		}
		if bytes.IndexByte(fr.Message, '\n') >= 0 {
			t.Fatalf("Frame(%q): Message %q contains a newline", line, fr.Message)
		}
		if fr.PID < -1 || fr.PID > maxPID {
			t.Fatalf("Frame(%q): PID %d out of range", line, fr.PID)
		}
		if fr.Format == FormatUnknown || fr.Format >= formatCount {
			t.Fatalf("Frame(%q): Format %v", line, fr.Format)
		}
		if fr.Format != FormatRFC5424 {
			if !validToken(fr.Host, maxHost) || !validToken(fr.Program, maxProgram) {
				t.Fatalf("Frame(%q): bad Host %q or Program %q", line, fr.Host, fr.Program)
			}
			if fr.Time.IsZero() {
				t.Fatalf("Frame(%q): zero Time", line)
			}
		}
		if fr.Format == FormatRFC3164 && fr.Time.After(testRef.Add(7*24*time.Hour)) {
			t.Fatalf("Frame(%q): Time %v more than a week after the reference", line, fr.Time)
		}
		for _, c := range append(fr.Host[:len(fr.Host):len(fr.Host)], fr.Program...) {
			if c <= ' ' || c == 0x7f {
				t.Fatalf("Frame(%q): control byte or space in Host %q or Program %q", line, fr.Host, fr.Program)
			}
		}
	})
}
