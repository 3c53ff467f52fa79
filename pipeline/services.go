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
	parser    func() lineParser
}

// services lists the built-in services. The first is the one that reads
// lines whose tag names no program.
var services = [...]service{
	{name: "sshd", isProgram: sshd.IsProgram, parser: func() lineParser { return sshd.New() }},
	{name: "dropbear", isProgram: dropbear.IsProgram, parser: func() lineParser { return dropbear.New() }},
}

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

// KnownService reports whether name is a built-in service.
func KnownService(name string) bool { return serviceIndex(name) >= 0 }

// ServiceNames lists the built-in services, comma-separated.
func ServiceNames() string {
	names := make([]string, len(services))
	for i := range services {
		names[i] = services[i].name
	}
	return strings.Join(names, ", ")
}
