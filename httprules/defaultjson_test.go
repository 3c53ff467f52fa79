package httprules

import (
	"bytes"
	"encoding/json"
	"os"
	"reflect"
	"testing"

	"gopkg.in/yaml.v3"
)

// TestDefaultJSONFresh: default.json, which Default decodes, is
// default.yaml as the strict loader reads it, and the pack built from it is
// the pack Load builds from default.yaml. With PHALANX_UPDATE_DEFAULT_JSON=1
// (go generate ./httprules) it writes default.json first.
func TestDefaultJSONFresh(t *testing.T) {
	var doc fileDoc
	dec := yaml.NewDecoder(bytes.NewReader(defaultYAML))
	dec.KnownFields(true)
	if err := dec.Decode(&doc); err != nil {
		t.Fatal(err)
	}
	want, err := json.MarshalIndent(&doc, "", "\t")
	if err != nil {
		t.Fatal(err)
	}
	want = append(want, '\n')
	if os.Getenv("PHALANX_UPDATE_DEFAULT_JSON") == "1" {
		if err := os.WriteFile("default.json", want, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Log("wrote default.json; rebuild to embed it")
		return
	}
	if !bytes.Equal(want, defaultJSON) {
		t.Fatal("default.json is not default.yaml as decoded: run go generate ./httprules")
	}

	fromJSON := Default()
	fromJSON.automata()
	fromYAML, err := Load(defaultYAML)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(fromJSON, fromYAML) {
		t.Fatal("the pack built from default.json differs from the one Load builds from default.yaml")
	}
}
