package feed

import (
	"crypto/rand"
	"crypto/sha1"
	"time"

	"phalanx/jsonout"

	"phalanx"
)

// STIX 2.1 facts this file relies on (OASIS STIX 2.1, sections 2.9, 3.2,
// 4.5, 4.7, 8 and 9):
//   - a bundle is {"type":"bundle","id":"bundle--UUID","objects":[…]} and,
//     unlike STIX 2.0's, has no spec_version;
//   - identifiers are object-type--UUID with an RFC 4122 UUID; domain
//     objects SHOULD use UUIDv4, and producers that use UUIDv5 must pick a
//     namespace that keeps them unique and MUST NOT use the namespace
//     00abedb4-aa42-466c-9c01-fed23315a9b7, which is reserved for cyber
//     observables; a producer never reuses a UUID for two objects, of any
//     types;
//   - created and modified are timestamps precise to at least the
//     millisecond, in UTC with a Z;
//   - an indicator requires pattern, pattern_type and valid_from, and
//     valid_until, when present, must be later than valid_from;
//     indicator_types takes the open vocabulary (malicious-activity …);
//   - an ipv4-addr's or ipv6-addr's value is one address or a CIDR block;
//   - an identity requires name; identity_class "system" is in its open
//     vocabulary.

// nsURL is RFC 4122's namespace for URLs, 6ba7b811-9dad-11d1-80b4-00c04fd430c8.
func nsURL() [16]byte {
	return [16]byte{0x6b, 0xa7, 0xb8, 0x11, 0x9d, 0xad, 0x11, 0xd1, 0x80, 0xb4, 0x00, 0xc0, 0x4f, 0xd4, 0x30, 0xc8}
}

// stixRootName names phalanx's own UUIDv5 namespace (inside nsURL); each
// member's namespace is the UUIDv5 of its name in it.
const stixRootName = "urn:phalanx:stix-2.1"

// uuid5 returns the RFC 4122 version 5 (SHA-1, name-based) UUID of name in
// the namespace ns.
func uuid5(ns [16]byte, name []byte) [16]byte {
	var buf [128]byte
	sum := sha1.Sum(append(append(buf[:0], ns[:]...), name...))
	var u [16]byte
	copy(u[:], sum[:16])
	u[6] = u[6]&0x0f | 0x50 // version 5
	u[8] = u[8]&0x3f | 0x80 // RFC 4122 variant
	return u
}

// uuid4 returns a random version 4 UUID.
func uuid4() [16]byte {
	var u [16]byte
	_, _ = rand.Read(u[:]) // crypto/rand.Read never fails (Go 1.24+)
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	return u
}

// appendUUID appends u in its 8-4-4-4-12 hexadecimal form.
func appendUUID(b []byte, u [16]byte) []byte {
	for i, c := range u {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			b = append(b, '-')
		}
		b = append(b, hexDigits[c>>4], hexDigits[c&0xf])
	}
	return b
}

// appendSTIXTime appends t as a STIX timestamp: UTC, millisecond precision
// (rounded down, or up with ceil), Z.
func appendSTIXTime(b []byte, t time.Time, ceil bool) []byte {
	t = clampTime(t)
	r := t.Truncate(time.Millisecond)
	if ceil && !r.Equal(t) {
		r = clampTime(r.Add(time.Millisecond))
	}
	return r.AppendFormat(b, "2006-01-02T15:04:05.000Z")
}

// stixProducer writes the STIX objects of one member.
type stixProducer struct {
	member     string
	ns         [16]byte // the member's UUIDv5 namespace
	identityID []byte   // "identity--…"
}

// newSTIXProducer returns the producer for member. Indicator ids are
// UUIDv5 of the decision's value and start in the member's own namespace:
// the same ban gets the same id on every pull, and two members that serve
// the same alliance ban (same value, same start) do not give one id to two
// objects with different creators.
func newSTIXProducer(member string) stixProducer {
	if member == "" {
		member = "phalanx"
	}
	p := stixProducer{member: member, ns: uuid5(uuid5(nsURL(), []byte(stixRootName)), []byte(member))}
	p.identityID = appendUUID([]byte("identity--"), uuid5(p.ns, []byte("identity")))
	return p
}

// indicatorUUID is the UUID of the indicator of d.
func (p *stixProducer) indicatorUUID(d *phalanx.Decision) [16]byte {
	var name [96]byte
	b := append(name[:0], "indicator\x00"...)
	b = appendValue(b, d.Value)
	b = append(b, 0)
	b = d.Start.UTC().AppendFormat(b, time.RFC3339Nano)
	return uuid5(p.ns, b)
}

// appendBundleStart appends the bundle's opening, up to the first object.
// Each bundle gets a random id, as the specification recommends.
func (p *stixProducer) appendBundleStart(b []byte) []byte {
	b = append(b, `{"type":"bundle","id":"bundle--`...)
	b = appendUUID(b, uuid4())
	return append(b, "\",\"objects\":[\n"...)
}

// appendIdentity appends the identity object of the member, created and
// modified at created.
func (p *stixProducer) appendIdentity(b []byte, created time.Time) []byte {
	b = append(b, `{"type":"identity","spec_version":"2.1","id":"`...)
	b = append(b, p.identityID...)
	b = append(b, `","created":"`...)
	b = appendSTIXTime(b, created, false)
	b = append(b, `","modified":"`...)
	b = appendSTIXTime(b, created, false)
	b = append(b, `","name":`...)
	b = appendJSONString(b, p.member)
	b = append(b, `,"description":"phalanx member that produced these indicators","identity_class":"system"}`...)
	return b
}

// appendIndicator appends the indicator object of the ban d, which must be
// active (so that valid_until is later than valid_from):
//
//	{"type":"indicator","spec_version":"2.1","id":"indicator--…","created_by_ref":"identity--…",
//	 "created":"…","modified":"…","name":"ban 192.0.2.1","description":"…",
//	 "indicator_types":["malicious-activity"],"pattern":"[ipv4-addr:value = '192.0.2.1']",
//	 "pattern_type":"stix","pattern_version":"2.1","valid_from":"…","valid_until":"…"}
func (p *stixProducer) appendIndicator(b []byte, d *phalanx.Decision) []byte {
	b = append(b, `{"type":"indicator","spec_version":"2.1","id":"indicator--`...)
	b = appendUUID(b, p.indicatorUUID(d))
	b = append(b, `","created_by_ref":"`...)
	b = append(b, p.identityID...)
	var startBuf [32]byte
	start := appendSTIXTime(startBuf[:0], d.Start, false)
	b = append(b, `","created":"`...)
	b = append(b, start...)
	b = append(b, `","modified":"`...)
	b = append(b, start...)
	b = append(b, `","name":"ban `...)
	b = appendValue(b, d.Value)
	b = append(b, `","description":"phalanx `...)
	b = jsonout.AppendEscaped(b, string(d.Origin))
	b = append(b, " ban"...)
	if s := scenarioOf(d); s != "" {
		b = append(b, ": "...)
		b = jsonout.AppendEscaped(b, s)
	}
	b = append(b, `","indicator_types":["malicious-activity"],"pattern":"[ipv`...)
	if d.Value.Addr().Is4() {
		b = append(b, '4')
	} else {
		b = append(b, '6')
	}
	b = append(b, `-addr:value = '`...)
	b = appendValue(b, d.Value)
	b = append(b, `']","pattern_type":"stix","pattern_version":"2.1","valid_from":"`...)
	b = append(b, start...)
	b = append(b, `","valid_until":"`...)
	b = appendSTIXTime(b, d.Until, true)
	return append(b, `"}`...)
}
