package journal

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"unicode/utf8"
)

// kv is one field of a test entry.
type kv struct {
	name  string
	value []byte
}

func f(name, value string) kv { return kv{name, []byte(value)} }

// exportEntry writes fields in the export format: text where the value is
// printable UTF-8 without "\n", binary (length-prefixed) otherwise.
func exportEntry(fields ...kv) []byte {
	var b bytes.Buffer
	for _, fl := range fields {
		if printable(fl.value) {
			fmt.Fprintf(&b, "%s=%s\n", fl.name, fl.value)
			continue
		}
		b.WriteString(fl.name + "\n")
		var n [8]byte
		binary.LittleEndian.PutUint64(n[:], uint64(len(fl.value)))
		b.Write(n[:])
		b.Write(fl.value)
		b.WriteByte('\n')
	}
	b.WriteByte('\n')
	return b.Bytes()
}

func printable(v []byte) bool {
	if !utf8.Valid(v) {
		return false
	}
	for _, c := range v {
		if c < ' ' || c == 0x7f {
			return false
		}
	}
	return true
}

// testBoot is the boot id of the test entries.
const testBoot = "0123456789abcdef0123456789abcdef"

// record is a test entry as journald would have stored it: number i gives
// increasing timestamps and the port in its message.
type record struct {
	i       int
	ident   string // SYSLOG_IDENTIFIER; "" leaves it out
	unit    string // _SYSTEMD_UNIT; "" leaves it out
	comm    string // _COMM; "" leaves it out
	pid     string // _PID; "" leaves it out
	spid    string // SYSLOG_PID; "" leaves it out
	boot    string // _BOOT_ID; "" is testBoot
	message []byte // nil: "Failed password for root from 192.0.2.7 port I ssh2"
}

func sshd(i int) record {
	return record{i: i, ident: "sshd", unit: "ssh.service", pid: fmt.Sprint(1000 + i)}
}

func (r record) msg() []byte {
	if r.message != nil {
		return r.message
	}
	return fmt.Appendf(nil, "Failed password for root from 192.0.2.7 port %d ssh2", r.i)
}

func (r record) realtime() int64 { return 1_700_000_000_000_000 + int64(r.i)*1000 }

// fields returns the record's fields in the export format's order, without
// __CURSOR (systemd-journal-remote assigns it).
func (r record) fields() []kv {
	boot := r.boot
	if boot == "" {
		boot = testBoot
	}
	fs := []kv{
		f("__REALTIME_TIMESTAMP", fmt.Sprint(r.realtime())),
		f("__MONOTONIC_TIMESTAMP", fmt.Sprint(1_000_000+int64(r.i)*1000)),
		f("_BOOT_ID", boot),
		f("_HOSTNAME", "web1"),
	}
	if r.ident != "" {
		fs = append(fs, f("SYSLOG_IDENTIFIER", r.ident))
	}
	if r.comm != "" {
		fs = append(fs, f("_COMM", r.comm))
	}
	if r.pid != "" {
		fs = append(fs, f("_PID", r.pid))
	}
	if r.spid != "" {
		fs = append(fs, f("SYSLOG_PID", r.spid))
	}
	if r.unit != "" {
		fs = append(fs, f("_SYSTEMD_UNIT", r.unit))
	}
	return append(fs, kv{"MESSAGE", r.msg()})
}

// withCursor returns the record as journalctl exports it, with a made-up
// cursor.
func (r record) withCursor() []byte {
	c := fmt.Sprintf("s=feedfacefeedfacefeedfacefeedface;i=%x;b=%s;m=%x;t=%x;x=%x", r.i, testBoot, r.i, r.realtime(), r.i*7919)
	return exportEntry(append([]kv{f("__CURSOR", c)}, r.fields()...)...)
}

func exportRecords(rs ...record) []byte {
	var b []byte
	for _, r := range rs {
		b = append(b, exportEntry(r.fields()...)...)
	}
	return b
}
