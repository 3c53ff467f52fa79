module phalanx

go 1.26.0

require (
	github.com/gaissmai/bart v0.30.0
	golang.org/x/term v0.48.0
	gopkg.in/yaml.v3 v3.0.1
)

require golang.org/x/sys v0.50.0
