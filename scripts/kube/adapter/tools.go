//go:build tools

// Package tools names the program scripts/kube_testenv.sh builds from this module.
package tools

import (
	_ "sigs.k8s.io/prometheus-adapter/cmd/adapter"
)
