package source

import (
	"fmt"
	"strings"
)

// Kind is the family a source belongs to.
type Kind uint8

// Source kinds.
const (
	KindFile    Kind = iota // a log file, tailed (run) or read whole (replay); "-" is standard input
	KindJournal             // the systemd journal, through journalctl
	KindSyslog              // a syslog receiver on a UDP or TCP address
)

// Spec is one source as written on the command line or in the config, the
// same spelling for `run --source` and `replay`:
//
//	PATH                   a file; the service is recognised from each line
//	SERVICE:PATH           a file of that service's lines ("sshd:/var/log/auth.log")
//	SERVICE/FORMAT:PATH    a web server's log in a named log format ("nginx/main:/var/log/nginx/access.log")
//	journal:SERVICE        the journal's entries of a known service ("journal:sshd")
//	journal:FIELD=VALUE    the journal's entries matching a field ("journal:_SYSTEMD_UNIT=ssh.service")
//	syslog:udp://ADDR:PORT a syslog receiver (also tcp://)
//
// ParseSpec only splits the text; each kind's package checks its target,
// and the caller checks that a service is one it knows.
type Spec struct {
	Kind    Kind
	Service string // the declared service; "" when the lines say
	Target  string // the path, the journal match, or the syslog address URL
	Text    string // the spec as written
}

// String returns the spec as written.
func (s Spec) String() string { return s.Text }

// ParseSpec splits a source spec. exists reports whether a path names an
// existing file: a file whose name happens to look like "word:rest" is read
// as a file, not as a service prefix. exists may be nil.
func ParseSpec(text string, exists func(path string) bool) (Spec, error) {
	if text == "" {
		return Spec{}, fmt.Errorf("empty source: give a path, SERVICE:PATH, journal:SERVICE or syslog:udp://ADDR:PORT")
	}
	if strings.ContainsAny(text, "\n\x00") {
		return Spec{}, fmt.Errorf("source %q: contains a newline or NUL", text)
	}
	sp := Spec{Kind: KindFile, Target: text, Text: text}
	i := strings.IndexByte(text, ':')
	if i <= 0 || !isServiceWord(text[:i]) || exists != nil && exists(text) {
		return sp, nil
	}
	prefix, rest := text[:i], text[i+1:]
	switch prefix {
	case "journal":
		if rest == "" {
			return Spec{}, fmt.Errorf("source %q: name a service (journal:sshd) or a field match (journal:_SYSTEMD_UNIT=ssh.service)", text)
		}
		sp.Kind, sp.Target = KindJournal, rest
		if !strings.Contains(rest, "=") {
			sp.Service = rest
		}
	case "syslog":
		if !strings.HasPrefix(rest, "udp://") && !strings.HasPrefix(rest, "tcp://") {
			return Spec{}, fmt.Errorf("source %q: give syslog:udp://ADDR:PORT or syslog:tcp://ADDR:PORT", text)
		}
		sp.Kind, sp.Target = KindSyslog, rest
	default:
		if rest == "" {
			return Spec{}, fmt.Errorf("source %q: give a path after %q", text, prefix+":")
		}
		sp.Service, sp.Target = prefix, rest
	}
	return sp, nil
}

// isServiceWord reports whether s looks like a service name, optionally
// followed by "/FORMAT" (a word of letters, digits, '-' and '_').
func isServiceWord(s string) bool {
	svc, format, ok := strings.Cut(s, "/")
	if !ok {
		return isWord(s)
	}
	return isWord(svc) && IsFormatName(format)
}

// IsFormatName reports whether s can name a log format: 1 to 64 letters,
// digits, '-' and '_'.
func IsFormatName(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// isWord reports whether s looks like a service name: lowercase letters,
// digits and '-', starting with a letter, and not a Windows drive letter.
func isWord(s string) bool {
	if len(s) < 2 || len(s) > 32 || s[0] < 'a' || s[0] > 'z' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}
