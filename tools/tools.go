//go:build tools

// Package tools pins the build tools and the u-root commands `make uroot`
// compiles into its busybox image (rig.URootCommands), so that go.mod
// records their versions and go.sum their dependencies: mkuimage builds
// them from this module's graph. Run mkuimage with
// `go run github.com/u-root/mkuimage/cmd/mkuimage`. The tools build tag
// keeps this file out of every build.
package tools

import (
	_ "github.com/u-root/mkuimage/cmd/mkuimage"

	_ "github.com/u-root/u-root/cmds/core/cat"
	_ "github.com/u-root/u-root/cmds/core/cp"
	_ "github.com/u-root/u-root/cmds/core/dmesg"
	_ "github.com/u-root/u-root/cmds/core/echo"
	_ "github.com/u-root/u-root/cmds/core/gosh"
	_ "github.com/u-root/u-root/cmds/core/grep"
	_ "github.com/u-root/u-root/cmds/core/ip"
	_ "github.com/u-root/u-root/cmds/core/ls"
	_ "github.com/u-root/u-root/cmds/core/lsmod"
	_ "github.com/u-root/u-root/cmds/core/mkdir"
	_ "github.com/u-root/u-root/cmds/core/mount"
	_ "github.com/u-root/u-root/cmds/core/poweroff"
	_ "github.com/u-root/u-root/cmds/core/ps"
	_ "github.com/u-root/u-root/cmds/core/sync"
	_ "github.com/u-root/u-root/cmds/core/umount"
	_ "github.com/u-root/u-root/cmds/core/uname"
)
