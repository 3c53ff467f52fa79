package charter

import (
	"bytes"
	"errors"
	"fmt"
	"io"

	"gopkg.in/yaml.v3"
)

// Bounds on a document's shape, checked on the parsed node tree before the
// strict decoder sees it. The decoder compares every pair of keys of a
// mapping to find repeated ones, so one mapping of 100,000 keys (a 1 MiB
// charter) costs it minutes of CPU; aliases let a short text decode into a
// large one. Charters arrive from other members (join replies, amendments),
// so neither may reach the decoder.
const (
	// maxMappingKeys is far above the longest section (policy, with 9
	// keys); every key beyond a section's own is an error anyway.
	maxMappingKeys = 64
	// maxListEntries is the longest list Validate accepts (territory);
	// the others (members, bouncers, addresses...) are shorter.
	maxListEntries = MaxTerritory
	// maxDepth is far above a charter's deepest value (the document, its
	// mapping, fleet, scenarios, a scenario, its kinds, one kind: 6).
	maxDepth = 16
)

// readDocument parses the first YAML document in data into a node tree,
// checks its shape, and reports whether another document follows. Parsing
// into a node expands no alias and compares no keys, so it is linear in
// len(data). It returns io.EOF when data holds no document.
func readDocument(data []byte) (doc *yaml.Node, more bool, err error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var n yaml.Node
	if err := dec.Decode(&n); err != nil {
		return nil, false, err
	}
	var extra yaml.Node
	more = !errors.Is(dec.Decode(&extra), io.EOF)
	if err := checkShape(&n, 0); err != nil {
		return nil, more, err
	}
	return &n, more, nil
}

// checkShape refuses anchors, aliases and merge keys (a charter has no use
// for them, and Marshal never writes them), mappings of more than
// maxMappingKeys keys, lists of more than maxListEntries entries, and
// nesting deeper than maxDepth.
func checkShape(n *yaml.Node, depth int) error {
	if depth > maxDepth {
		return fmt.Errorf("line %d: values nested more than %d deep; a charter's deepest values (a fleet scenario's kinds) sit 6 deep", n.Line, maxDepth)
	}
	if n.Anchor != "" {
		return fmt.Errorf("line %d: YAML anchor &%s: a charter holds no anchors or aliases; write each value out", n.Line, n.Anchor)
	}
	switch n.Kind {
	case yaml.AliasNode:
		return fmt.Errorf("line %d: YAML alias *%s: a charter holds no anchors or aliases; write each value out (quote a literal *, as in - \"*\")", n.Line, n.Value)
	case yaml.MappingNode:
		if k := len(n.Content) / 2; k > maxMappingKeys {
			return fmt.Errorf("line %d: a mapping of %d keys; no section of a charter has more than %d, remove the keys that are not in the charter's reference", n.Line, k, maxMappingKeys)
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			if k := n.Content[i]; k.Kind == yaml.ScalarNode && k.ShortTag() == "!!merge" {
				return fmt.Errorf("line %d: YAML merge key <<: a charter holds no merge keys; write the keys out", k.Line)
			}
		}
	case yaml.SequenceNode:
		if len(n.Content) > maxListEntries {
			return fmt.Errorf("line %d: a list of %d entries; the longest list a charter allows (territory) has %d", n.Line, len(n.Content), maxListEntries)
		}
	}
	for _, c := range n.Content {
		if err := checkShape(c, depth+1); err != nil {
			return err
		}
	}
	return nil
}

// hasKey reports whether the mapping at the root of doc has the key.
func hasKey(doc *yaml.Node, key string) bool {
	root := doc
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		root = root.Content[0]
	}
	if root.Kind != yaml.MappingNode {
		return false
	}
	for i := 0; i+1 < len(root.Content); i += 2 {
		if k := root.Content[i]; k.Kind == yaml.ScalarNode && k.Value == key {
			return true
		}
	}
	return false
}
