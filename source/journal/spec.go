package journal

import (
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// SpecPrefix starts every journal source spec.
const SpecPrefix = "journal:"

// maxFieldName is the longest field name that journald stores and journalctl
// accepts in a match.
const maxFieldName = 64

// maxMatchValue bounds the value of a field match given by an operator.
const maxMatchValue = 1024

// Match selects the entries whose field Field has the value Value.
type Match struct {
	Field string
	Value string
}

// String returns the match as journalctl takes it: FIELD=VALUE.
func (m Match) String() string { return m.Field + "=" + m.Value }

// Spec says which journal entries a source reads: those that satisfy any of
// Matches (they are OR'ed, whatever their fields). No matches: every entry.
type Spec struct {
	// Service is the known service that journal:SERVICE named, such as
	// "sshd". It is "" for a raw field match (journal:FIELD=VALUE): the
	// caller then recognises the service from each entry's Identifier.
	Service string
	Matches []Match
}

// String returns the spec in the form ParseSpec reads.
func (s Spec) String() string {
	if s.Service != "" {
		return SpecPrefix + s.Service
	}
	parts := make([]string, len(s.Matches))
	for i, m := range s.Matches {
		parts[i] = m.String()
	}
	return SpecPrefix + strings.Join(parts, ",")
}

// service is one line of the table of known services.
type service struct {
	name    string
	matches []string // FIELD=VALUE, OR'ed
}

// services is the table of the services that journal:NAME knows, with the
// matches that select their entries. A new service is one line here.
func services() []service {
	return []service{
		// Debian's unit is ssh.service, Fedora's and RHEL's sshd.service;
		// OpenSSH 9.8 and later log from sshd-session and sshd-auth too.
		{"sshd", []string{"SYSLOG_IDENTIFIER=sshd", "SYSLOG_IDENTIFIER=sshd-session", "SYSLOG_IDENTIFIER=sshd-auth", "_SYSTEMD_UNIT=ssh.service", "_SYSTEMD_UNIT=sshd.service"}},
		{"dropbear", []string{"SYSLOG_IDENTIFIER=dropbear", "_SYSTEMD_UNIT=dropbear.service"}},
		// Postfix logs as postfix/DAEMON from Debian's postfix@-.service
		// or RHEL's postfix.service.
		{"postfix", []string{"_SYSTEMD_UNIT=postfix@-.service", "_SYSTEMD_UNIT=postfix.service", "SYSLOG_IDENTIFIER=postfix/smtpd",
			"SYSLOG_IDENTIFIER=postfix/postscreen", "SYSLOG_IDENTIFIER=postfix/submission/smtpd", "SYSLOG_IDENTIFIER=postfix/smtps/smtpd"}},
		{"dovecot", []string{"SYSLOG_IDENTIFIER=dovecot", "_SYSTEMD_UNIT=dovecot.service"}},
		{"exim", []string{"SYSLOG_IDENTIFIER=exim", "_SYSTEMD_UNIT=exim4.service", "_SYSTEMD_UNIT=exim.service"}},
		{"vsftpd", []string{"SYSLOG_IDENTIFIER=vsftpd", "_SYSTEMD_UNIT=vsftpd.service"}},
		{"proftpd", []string{"SYSLOG_IDENTIFIER=proftpd", "_SYSTEMD_UNIT=proftpd.service"}},
		{"pure-ftpd", []string{"SYSLOG_IDENTIFIER=pure-ftpd", "_SYSTEMD_UNIT=pure-ftpd.service"}},
		{"mysql", []string{"SYSLOG_IDENTIFIER=mysqld", "SYSLOG_IDENTIFIER=mariadbd", "_SYSTEMD_UNIT=mariadb.service",
			"_SYSTEMD_UNIT=mysql.service", "_SYSTEMD_UNIT=mysqld.service"}},
		{"postgresql", []string{"SYSLOG_IDENTIFIER=postgres", "_SYSTEMD_UNIT=postgresql.service"}},
		// The kernel's own entries only: any local user can log a line
		// tagged "kernel" through syslog(3), but not through the kernel.
		{"netfilter", []string{"_TRANSPORT=kernel"}},
	}
}

// Services returns the names that journal:NAME accepts.
func Services() []string {
	var names []string
	for _, s := range services() {
		names = append(names, s.name)
	}
	return names
}

// ParseSpec reads a journal source spec: "journal:SERVICE" for a known
// service (see Services), or "journal:FIELD=VALUE" for any journal field
// match, such as "journal:SYSLOG_IDENTIFIER=sshd" or
// "journal:_SYSTEMD_UNIT=ssh.service".
func ParseSpec(spec string) (Spec, error) {
	rest, ok := strings.CutPrefix(spec, SpecPrefix)
	if !ok {
		return Spec{}, fmt.Errorf("journal source %q: does not start with %q: write journal:SERVICE or journal:FIELD=VALUE", spec, SpecPrefix)
	}
	if rest == "" {
		return Spec{}, fmt.Errorf("journal source %q: nothing after %q: name a service (%s) or a field match such as journal:SYSLOG_IDENTIFIER=sshd", spec, SpecPrefix, strings.Join(Services(), ", "))
	}
	if !strings.Contains(rest, "=") {
		for _, s := range services() {
			if s.name == rest {
				out := Spec{Service: s.name}
				for _, m := range s.matches {
					mm, err := parseMatch(m)
					if err != nil {
						return Spec{}, fmt.Errorf("journal service %s: %w", s.name, err)
					}
					out.Matches = append(out.Matches, mm)
				}
				return out, nil
			}
		}
		return Spec{}, fmt.Errorf("journal source %q: unknown service %q: use one of %s, or a field match such as journal:SYSLOG_IDENTIFIER=%s", spec, rest, strings.Join(Services(), ", "), rest)
	}
	m, err := parseMatch(rest)
	if err != nil {
		return Spec{}, fmt.Errorf("journal source %q: %w", spec, err)
	}
	return Spec{Matches: []Match{m}}, nil
}

// parseMatch reads and validates FIELD=VALUE the way journalctl wants it.
func parseMatch(s string) (Match, error) {
	field, value, ok := strings.Cut(s, "=")
	if !ok {
		return Match{}, fmt.Errorf("match %q has no '=': write FIELD=VALUE", s)
	}
	m := Match{Field: field, Value: value}
	if err := m.validate(); err != nil {
		return Match{}, err
	}
	return m, nil
}

// validate checks the field name as journald does (uppercase letters,
// digits and '_', not starting with a digit, at most 64 characters; a
// leading "__" names an address field such as __CURSOR, which journalctl
// refuses as a match) and the value (non-empty UTF-8 text without spaces or
// control characters, so that it stays one argument and one line).
func (m Match) validate() error {
	f := m.Field
	switch {
	case f == "":
		return errors.New("empty field name: write FIELD=VALUE, such as SYSLOG_IDENTIFIER=sshd")
	case len(f) > maxFieldName:
		return fmt.Errorf("field name %.20q… is longer than %d characters", f, maxFieldName)
	case strings.HasPrefix(f, "__"):
		return fmt.Errorf("field %q: fields starting with \"__\" are not stored in entries and cannot be matched", f)
	case f[0] >= '0' && f[0] <= '9':
		return fmt.Errorf("field %q starts with a digit: journal field names do not", f)
	}
	for i := 0; i < len(f); i++ {
		c := f[i]
		if !(c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_') {
			return fmt.Errorf("field %q: journal field names have only uppercase letters, digits and '_'", f)
		}
	}
	v := m.Value
	switch {
	case v == "":
		return fmt.Errorf("field %s: empty value: give the value to match", f)
	case len(v) > maxMatchValue:
		return fmt.Errorf("field %s: value longer than %d bytes", f, maxMatchValue)
	case !utf8.ValidString(v):
		return fmt.Errorf("field %s: value is not valid UTF-8", f)
	}
	for _, r := range v {
		if unicode.IsSpace(r) || unicode.IsControl(r) {
			return fmt.Errorf("field %s: value %q has a space or control character", f, v)
		}
	}
	return nil
}

// args returns the matches as journalctl arguments, OR'ed with "+"
// (journalctl ANDs matches of different fields unless "+" separates them).
func (s Spec) args() []string {
	var out []string
	for i, m := range s.Matches {
		if i > 0 {
			out = append(out, "+")
		}
		out = append(out, m.String())
	}
	return out
}
