//go:build !linux

package cluster

import "os/exec"

// setParentDeath does nothing where the kernel cannot tie a child's life
// to its parent's; a worker then stops when its job master goes silent.
func setParentDeath(*exec.Cmd) {}
