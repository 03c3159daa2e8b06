//go:build !unix

package ollamatest

import "os/exec"

// ownGroup leaves cmd as it is where process groups are not available.
func ownGroup(*exec.Cmd) {}
