package httprules

import (
	"fmt"
)

// An automaton finds every occurrence of a set of literal patterns in one
// pass over the input (Aho–Corasick, compiled to a dense DFA over byte
// classes). Bytes are folded before they are classed: ASCII letters to lower
// case, tab, line feed, vertical tab, form feed and carriage return to a
// space; patterns are folded the same way at build time. The cost of a step
// is one table load whatever the number of patterns.
//
// Every pattern carries entries: which group it counts for and under which
// condition (a mode: where in the input the occurrence must lie). Entries of
// the modes that can only be judged at the end of the path (suffix, exact)
// are kept apart from the ones judged where they occur, so that the scan
// loop only stops on states that have scan-time entries.
type automaton struct {
	class  [256]uint8 // byte → class (0: a byte no pattern contains)
	stride int        // number of classes
	// next[off+class] is the next state's offset (its index × stride), with
	// outFlag set when that state has scan-time entries. Offsets instead of
	// indexes keep a multiplication out of the loop's dependency chain.
	// The root's offset is 0.
	next []uint32
	// scanAt[s]:scanAt[s+1] and endAt[s]:endAt[s+1] index entries of state s.
	scanAt, endAt []int32
	scan, end     []entry
	states        int
}

// outFlag marks a transition into a state that has scan-time entries.
const outFlag = 1 << 31

// An entry is what one pattern occurrence may prove.
type entry struct {
	group uint16 // the rule group (or crawler index, for modeCrawler)
	mode  mode   // where the occurrence must lie
	n     uint16 // the pattern's length in bytes
}

// mode says where an occurrence counts.
type mode uint8

const (
	// In the request target (the URI automaton).
	modeURI          mode = iota // anywhere in the target
	modePathContains             // inside the path
	modePathPrefix               // at the start of the path
	modeQuery                    // inside the query (after the first raw ? or #)
	modePathSuffix               // at the end of the path (judged at its end)
	modePathExact                // the whole path (judged at its end)
	modeQuerySuffix              // at the end of the query (judged at the target's end)
	// In a header (the header automaton).
	modeAgent   // in the User-Agent
	modeReferer // in the Referer
	modeHeader  // in either
	modeCrawler // in the User-Agent, naming a crawler (group is its index)
)

// atEnd reports whether a mode is judged at the end of the path or query.
func (m mode) atEnd() bool {
	return m == modePathSuffix || m == modePathExact || m == modeQuerySuffix
}

// fold is the byte folding every automaton applies.
var fold = func() (t [256]byte) {
	for i := range t {
		b := byte(i)
		switch {
		case b >= 'A' && b <= 'Z':
			b += 'a' - 'A'
		case b == '\t', b == '\n', b == '\v', b == '\f', b == '\r':
			b = ' '
		}
		t[i] = b
	}
	return t
}()

// foldString returns s folded.
func foldString(s string) string {
	b := []byte(s)
	for i, c := range b {
		b[i] = fold[c]
	}
	return string(b)
}

// A pattern to compile: its folded text and the entry it proves.
type pattern struct {
	text string
	e    entry
}

// maxStates bounds an automaton so that a state index and outFlag fit in a
// uint32 with room to spare; Load's limits on patterns keep far below it.
const maxStates = 1 << 24

// newAutomaton compiles patterns (already folded, none empty).
func newAutomaton(pats []pattern) (*automaton, error) {
	a := &automaton{}
	// Classes: one for each byte that occurs in a pattern, 0 for the rest.
	var used [256]bool
	for _, p := range pats {
		for i := 0; i < len(p.text); i++ {
			used[p.text[i]] = true
		}
	}
	var classOf [256]uint8
	n := 1
	for b := range 256 {
		if used[b] {
			if n == 256 {
				return nil, fmt.Errorf("patterns use more than 255 distinct bytes")
			}
			classOf[b] = uint8(n)
			n++
		}
	}
	a.stride = n
	for b := range 256 {
		a.class[b] = classOf[fold[b]]
	}

	// The trie, with dense child rows (-1: no child).
	type node struct {
		scan, end []entry
	}
	maxNodes := 1
	for _, p := range pats {
		maxNodes += len(p.text)
	}
	maxNodes = min(maxNodes, maxStates)
	child := make([]int32, n, maxNodes*n)
	for i := range child {
		child[i] = -1
	}
	nodes := make([]node, 1, maxNodes)
	for _, p := range pats {
		s := int32(0)
		for i := 0; i < len(p.text); i++ {
			c := int(classOf[p.text[i]])
			nx := child[int(s)*n+c]
			if nx < 0 {
				nx = int32(len(nodes))
				if len(nodes) >= maxStates {
					return nil, fmt.Errorf("patterns need more than %d automaton states; use fewer or shorter patterns", maxStates)
				}
				nodes = append(nodes, node{})
				for range n {
					child = append(child, -1)
				}
				child[int(s)*n+c] = nx
			}
			s = nx
		}
		if p.e.mode.atEnd() {
			nodes[s].end = append(nodes[s].end, p.e)
		} else {
			nodes[s].scan = append(nodes[s].scan, p.e)
		}
	}

	// Breadth-first order: renumber states so that shallow states, where
	// benign input spends its time, sit together at the start of the table.
	order := make([]int32, 0, len(nodes))
	order = append(order, 0)
	for i := 0; i < len(order); i++ {
		s := order[i]
		for c := range n {
			if nx := child[int(s)*n+c]; nx >= 0 {
				order = append(order, nx)
			}
		}
	}
	id := make([]int32, len(nodes))
	for newID, old := range order {
		id[old] = int32(newID)
	}

	// Failure links and the DFA, in BFS order (a state's failure target is
	// shallower, so it is complete when the state is reached).
	next := make([]uint32, len(nodes)*n)
	fail := make([]int32, len(nodes))
	a.scanAt = make([]int32, len(nodes)+1)
	a.endAt = make([]int32, len(nodes)+1)
	for _, old := range order {
		s := id[old]
		f := fail[s]
		// A state's entries: its own, then its failure state's (already
		// flattened, being shallower).
		a.scanAt[s] = int32(len(a.scan))
		a.scan = append(a.scan, nodes[old].scan...)
		a.endAt[s] = int32(len(a.end))
		a.end = append(a.end, nodes[old].end...)
		if s != 0 {
			a.scan = append(a.scan, a.scan[a.scanAt[f]:a.scanAt[f+1]]...)
			a.end = append(a.end, a.end[a.endAt[f]:a.endAt[f+1]]...)
		}
		a.scanAt[s+1] = int32(len(a.scan))
		a.endAt[s+1] = int32(len(a.end))
		for c := range n {
			if nx := child[int(old)*n+c]; nx >= 0 {
				t := id[nx]
				if s == 0 {
					fail[t] = 0
				} else {
					fail[t] = int32(next[int(f)*n+c])
				}
				next[int(s)*n+c] = uint32(t)
			} else if s != 0 {
				next[int(s)*n+c] = next[int(f)*n+c]
			}
		}
	}
	// Store offsets, and flag transitions into states with scan-time
	// entries.
	if uint64(len(nodes))*uint64(n) >= outFlag {
		return nil, fmt.Errorf("patterns need a %d × %d automaton; use fewer or shorter patterns", len(nodes), n)
	}
	for i, t := range next {
		off := t * uint32(n)
		if a.scanAt[t+1] > a.scanAt[t] {
			off |= outFlag
		}
		next[i] = off
	}
	a.next = next
	a.states = len(nodes)
	return a, nil
}

// scanEntries returns the scan-time entries of the state at offset s.
func (a *automaton) scanEntries(s uint32) []entry {
	st := (s &^ outFlag) / uint32(a.stride)
	return a.scan[a.scanAt[st]:a.scanAt[st+1]]
}

// endEntries returns the end-of-path and end-of-query entries of the state
// at offset s.
func (a *automaton) endEntries(s uint32) []entry {
	st := (s &^ outFlag) / uint32(a.stride)
	return a.end[a.endAt[st]:a.endAt[st+1]]
}

// size is the automaton's memory in bytes, roughly.
func (a *automaton) size() int {
	return len(a.next)*4 + (len(a.scanAt)+len(a.endAt))*4 + (len(a.scan)+len(a.end))*6
}
