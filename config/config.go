// Package config reads phalanx's YAML configuration file strictly (unknown
// keys are errors) over documented defaults, and hands each component only
// its own section. It must not start anything or keep global state.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"

	"gopkg.in/yaml.v3"

	"phalanx/pipeline"
	"phalanx/remedy"
	"phalanx/scenario"
)

// File is the whole configuration file.
type File struct {
	Detection scenario.Config `yaml:"detection"`
	Decisions remedy.Config   `yaml:"decisions"`
}

// Default returns the configuration used when no file is given.
func Default() File {
	return File{Detection: scenario.DefaultConfig(), Decisions: remedy.DefaultConfig()}
}

// maxFileSize bounds what is read from a configuration file.
const maxFileSize = 4 << 20

// Load reads path over the defaults and validates it. An empty path returns
// the defaults.
func Load(path string) (File, error) {
	f := Default()
	if path == "" {
		return f, nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return f, fmt.Errorf("read config: %w", err)
	}
	if err := Decode(data, &f); err != nil {
		return f, fmt.Errorf("config %s: %w", path, err)
	}
	return f, nil
}

// Decode decodes data over f strictly and validates the result.
func Decode(data []byte, f *File) error {
	if len(data) > maxFileSize {
		return fmt.Errorf("file is larger than %d bytes", maxFileSize)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(f); err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("decode: %w", err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return errors.New("decode: more than one YAML document; keep the configuration in one")
	}
	return f.Validate()
}

// Validate checks every section.
func (f *File) Validate() error {
	if err := f.Detection.Validate(); err != nil {
		return fmt.Errorf("detection: %w", err)
	}
	if err := f.Decisions.Validate(); err != nil {
		return fmt.Errorf("decisions: %w", err)
	}
	return nil
}

// Pipeline returns the detection pipeline's part of the configuration.
func (f *File) Pipeline() pipeline.Config {
	c := pipeline.DefaultConfig()
	c.Scenarios = f.Detection
	c.Remedy = f.Decisions
	return c
}
