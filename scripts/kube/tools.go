//go:build tools

// Package tools names the programs scripts/kube_testenv.sh builds, so `go mod tidy` keeps
// their modules (and the pinned versions) in go.mod.
package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
	_ "sigs.k8s.io/kwok/cmd/kwok"
)
