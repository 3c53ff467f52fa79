package pipeline

import (
	"strings"

	"phalanx"
	"phalanx/logline"
	"phalanx/parser/dovecot"
	"phalanx/parser/dropbear"
	"phalanx/parser/exim"
	"phalanx/parser/mysql"
	"phalanx/parser/netfilter"
	"phalanx/parser/postfix"
	"phalanx/parser/postgresql"
	"phalanx/parser/proftpd"
	"phalanx/parser/pureftpd"
	"phalanx/parser/sshd"
	"phalanx/parser/vsftpd"
)

// lineParser is what a service's parser does with one framed line: Parse
// fills ev.Kind, ev.Source and ev.User and reports whether the line is an
// event; Next gives a second event the same line released (an sshd PAM
// failure held until the connection's next line), at most once per line.
type lineParser interface {
	Parse(fr *logline.Frame, ev *phalanx.Event) bool
	Next(ev *phalanx.Event) bool
}

// service is one built-in service: its name (as sources and events spell
// it), which syslog programs are its, and a new parser for a stream. A new
// service is one more entry here.
type service struct {
	name      string
	isProgram func(prog []byte) bool
	parser    func(s *Stream) lineParser
	// web: a web server, whose own log files carry no syslog header (the
	// parser frames their lines itself).
	web bool
}

// services lists the built-in services. The first is the one that reads
// lines whose tag names no program.
var services = [...]service{
	{name: "sshd", isProgram: sshd.IsProgram, parser: func(*Stream) lineParser { return sshd.New() }},
	{name: "dropbear", isProgram: dropbear.IsProgram, parser: func(*Stream) lineParser { return dropbear.New() }},
	{name: "nginx", isProgram: isWebProgram("nginx"), parser: webService, web: true},
	{name: "apache", isProgram: isWebProgram("apache2", "apache", "httpd"), parser: webService, web: true},
	{name: "caddy", isProgram: isWebProgram("caddy"), parser: webService, web: true},
	{name: "traefik", isProgram: isWebProgram("traefik"), parser: webService, web: true},
	{name: "haproxy", isProgram: isWebProgram("haproxy"), parser: webService, web: true},
	// Mail, FTP, databases and the firewall: each reads its syslog or
	// journal lines by program, and, when its parser can frame them
	// (ownFramer), its own log file's lines on a stream declared as the
	// service's.
	{name: "postfix", isProgram: postfix.IsProgram, parser: func(*Stream) lineParser { return postfix.New() }},
	{name: "dovecot", isProgram: dovecot.IsProgram, parser: func(s *Stream) lineParser { return dovecot.NewIn(s.loc) }},
	{name: "exim", isProgram: exim.IsProgram, parser: func(s *Stream) lineParser { return exim.NewIn(s.loc) }},
	{name: "vsftpd", isProgram: vsftpd.IsProgram, parser: func(s *Stream) lineParser { return vsftpd.NewIn(s.loc) }},
	{name: "proftpd", isProgram: proftpd.IsProgram, parser: func(s *Stream) lineParser { return proftpd.NewIn(s.loc) }},
	{name: "pure-ftpd", isProgram: pureftpd.IsProgram, parser: func(*Stream) lineParser { return pureftpd.New() }},
	{name: "mysql", isProgram: mysql.IsProgram, parser: func(s *Stream) lineParser { return mysql.NewIn(s.loc) }},
	{name: "postgresql", isProgram: postgresql.IsProgram, parser: func(s *Stream) lineParser { return postgresql.NewIn(s.loc) }},
	// netfilter reads the kernel's LOG lines (program "kernel").
	{name: "netfilter", isProgram: netfilter.IsProgram, parser: func(*Stream) lineParser { return netfilter.New() }},
	// http reads the web-server lines of a file whose source names no
	// service.
	{name: "http", isProgram: func([]byte) bool { return false }, parser: webService, web: true},
}

// ownFramer is a service parser that also frames the lines of its
// service's own log file, which carry no syslog header (a web server's
// access log, MySQL's error log, vsftpd's log): a stream declared as the
// service's tries it before the syslog framer.
type ownFramer interface {
	Frame(line []byte, fr *logline.Frame) bool
}

// httpService is the index of the "http" service.
const httpService = len(services) - 1

func webService(s *Stream) lineParser { return s.p.newWebParser(s.format, s.loc) }

// programService returns the index of the service whose program prog is, or -1.
func programService(prog []byte) int {
	for i := range services {
		if services[i].isProgram(prog) {
			return i
		}
	}
	return -1
}

// programCache remembers the services of the program names a stream's
// lines carried, one name per slot, the slot chosen by the name's length
// and its first and last bytes: a log holds a handful of programs, and most
// lines then skip the scan of every service's names. A name that lands in
// a taken slot replaces the name there.
type programCache struct {
	names [16]string
	svcs  [16]int
}

// maxCachedProgram bounds the program names the cache keeps.
const maxCachedProgram = 32

// service is programService(prog), from the cache when it can; prog is
// not empty.
func (c *programCache) service(prog []byte) int {
	h := (uint(len(prog))*7 + uint(prog[0])*3 + uint(prog[len(prog)-1])) % uint(len(c.names))
	if c.names[h] == string(prog) {
		return c.svcs[h]
	}
	svc := programService(prog)
	if len(prog) <= maxCachedProgram {
		c.names[h], c.svcs[h] = string(prog), svc
	}
	return svc
}

func serviceIndex(name string) int {
	for i := range services {
		if services[i].name == name {
			return i
		}
	}
	return -1
}

// ServiceNames lists the built-in services, comma-separated.
func ServiceNames() string {
	names := make([]string, len(services))
	for i := range services {
		names[i] = services[i].name
	}
	return strings.Join(names, ", ")
}
