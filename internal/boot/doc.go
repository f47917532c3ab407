// Package boot is netroot's boot: what PID 1 does from the kernel's start
// of /init to switch_root, and the emergency handling when that fails.
// cmd/init builds the Linux Env, calls Run and hands its error to
// Emergency.
//
// It has three layers:
//
//   - the orchestration (Run): the steps in order — mount, config, modules,
//     links, bond, vlan, ip, login, disk, root, keeper, mount-root,
//     switch_root — each a function that takes the plan, the results of the
//     steps before it and only the Env interfaces it needs, and returns its
//     own typed result (the network step the PXE NIC, the DHCP leases and
//     the targets of a DHCP root-path; the logins their sessions; the root
//     step the device). Each logs one line with its duration; a failure is
//     a *StepError: step, cause and what to check (pkg/hint), rendered once
//     on the FATAL line;
//   - the overlaps, each a Task (internal/task) the steps hand on: the iSCSI
//     stack and the filesystem modules load in the background at nice 19
//     (from the start with more than one CPU, after the NIC drivers with
//     one); the bonds are created as soon as bonding is loaded, while the
//     NIC drivers probe; each login's kernel session is prepared while the
//     login runs; the keeper is started at nice 19 before the network and
//     handed the sessions as soon as the root device is found (until then
//     connWatch logs in again a session whose connection fails); the real
//     init is prefetched after the mount; the disk's I/O scheduler is set
//     on the side; the uevent loop loads late devices' drivers until
//     switch_root. When the boot fails, its context is cancelled and its
//     tasks are waited for (up to Options.Grace), and the log keeps off the
//     console while a shell runs there;
//   - the Env (env.go): the machine, one small interface a subject
//     (System, Files, Modules, Links, Addrs, ISCSI, Disks, Keeper, Switcher,
//     Console). Linux implements it in the _linux.go files over netroot's
//     pkg/ libraries; the tests implement it with fakes, so every decision
//     of the orchestration runs on any host, without root or netlink.
package boot
