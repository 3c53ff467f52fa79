// Package pamlog reads the authentication failures that PAM's pam_unix
// module logs on behalf of a service — "pam_unix(SERVICE:auth):
// authentication failure; logname= uid=0 euid=0 tty=T ruser=R rhost=ADDR
// [ user=U]", and the "(pam_unix) authentication failure; ..." of PAM
// before 0.99 — for the parsers of services that log them under their own
// program name (packages dovecot, vsftpd).
//
// ruser and user are the client's words; rhost is the address the service
// handed to PAM. ruser's value ends at the first space and rhost must come
// right after it; user, when present, ends the line. Anything else is no
// failure. It must not resolve names or allocate.
package pamlog

import (
	"bytes"
	"net/netip"

	"phalanx/parser/sshd"
)

// Failure reads a pam_unix authentication failure for service anywhere in
// msg and returns its address and user (aliasing msg; ruser when no user=
// is written).
func Failure(msg []byte, service string) (netip.Addr, []byte, bool) {
	i := bytes.Index(msg, []byte("(pam_unix) authentication failure;"))
	if i < 0 {
		j := bytes.Index(msg, []byte("pam_unix("))
		if j < 0 {
			return netip.Addr{}, nil, false
		}
		rest := msg[j+len("pam_unix("):]
		if !bytes.HasPrefix(rest, []byte(service)) || !bytes.HasPrefix(rest[len(service):], []byte(":auth): authentication failure;")) {
			return netip.Addr{}, nil, false
		}
		i = j
	}
	k := bytes.Index(msg[i:], []byte(" ruser="))
	if k < 0 {
		return netip.Addr{}, nil, false
	}
	v := msg[i+k+len(" ruser="):]
	sp := bytes.IndexByte(v, ' ')
	if sp < 0 {
		return netip.Addr{}, nil, false
	}
	ruser := v[:sp]
	v, ok := bytes.CutPrefix(v[sp:], []byte(" rhost="))
	if !ok {
		return netip.Addr{}, nil, false
	}
	host, user := v, ruser
	if sp := bytes.IndexByte(v, ' '); sp >= 0 {
		host = v[:sp]
		tail := bytes.TrimLeft(v[sp:], " ")
		if u, ok := bytes.CutPrefix(tail, []byte("user=")); ok {
			user = u
		} else if len(tail) > 0 {
			return netip.Addr{}, nil, false
		}
	}
	addr, ok := sshd.ParseAddr(host)
	return addr, user, ok
}
