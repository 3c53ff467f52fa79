package pipeline

import (
	"strings"

	"phalanx"
	"phalanx/logline"
	"phalanx/parser/dropbear"
	"phalanx/parser/sshd"
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
	// http reads the web-server lines of a file whose source names no
	// service.
	{name: "http", isProgram: func([]byte) bool { return false }, parser: webService, web: true},
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
