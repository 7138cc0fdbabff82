//go:build tools

// Package tools names the programs scripts/kube_testenv.sh builds from this module.
package tools

import (
	_ "helm.sh/helm/v4/cmd/helm"
	_ "sigs.k8s.io/lws/cmd"
)
