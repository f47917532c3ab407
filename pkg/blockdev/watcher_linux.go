package blockdev

import (
	"context"
	"errors"
	"fmt"
	"os"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Watcher receives kernel uevents and waits for block devices. Create it
// before doing whatever makes the device appear (loading a driver, an
// iSCSI login) so no event is missed. A Watcher is not safe for concurrent
// use by several goroutines.
type Watcher struct {
	f   *os.File
	rc  syscall.RawConn
	buf []byte
}

// ScanFunc lists the block devices currently present, e.g.
// NewScanner().Scan.
type ScanFunc func() ([]Device, error)

// errOverflow means the socket's receive queue overflowed (ENOBUFS): events
// were lost, so the caller must rescan.
var errOverflow = errors.New("uevent socket receive queue overflowed")

// NewWatcher subscribes to kernel uevents (NETLINK_KOBJECT_UEVENT,
// multicast group 1). Close it when done.
func NewWatcher() (*Watcher, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, unix.NETLINK_KOBJECT_UEVENT)
	if err != nil {
		return nil, fmt.Errorf("uevent watcher: open netlink socket: %w", err)
	}
	// A big receive queue so a burst of events (many LUNs) does not
	// overflow; FORCE needs CAP_NET_ADMIN, which PID 1 has.
	const rcvbuf = 4 << 20
	if unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, rcvbuf) != nil {
		_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, rcvbuf)
	}
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK, Groups: 1}); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("uevent watcher: bind to kernel uevent group: %w", err)
	}
	f := os.NewFile(uintptr(fd), "netlink-uevent")
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("uevent watcher: %w", err)
	}
	return &Watcher{f: f, rc: rc, buf: make([]byte, 64<<10)}, nil
}

// Close releases the socket.
func (w *Watcher) Close() error {
	if err := w.f.Close(); err != nil {
		return fmt.Errorf("uevent watcher: close: %w", err)
	}
	return nil
}

// recv reads one datagram. With wait false it returns (nil, nil) when
// nothing is queued. Datagrams not sent by the kernel (nl_pid != 0) are
// skipped.
func (w *Watcher) recv(wait bool) ([]byte, error) {
	for {
		var n int
		var from unix.Sockaddr
		var rerr error
		err := w.rc.Read(func(fd uintptr) bool {
			n, from, rerr = unix.Recvfrom(int(fd), w.buf, unix.MSG_DONTWAIT)
			return !(wait && errors.Is(rerr, unix.EAGAIN))
		})
		if err != nil {
			return nil, err
		}
		switch {
		case errors.Is(rerr, unix.EAGAIN):
			return nil, nil
		case errors.Is(rerr, unix.ENOBUFS):
			return nil, errOverflow
		case errors.Is(rerr, unix.EINTR):
			continue
		case rerr != nil:
			return nil, fmt.Errorf("uevent watcher: receive: %w", rerr)
		}
		if sa, ok := from.(*unix.SockaddrNetlink); !ok || sa.Pid != 0 {
			continue // from userspace: not trustworthy, not ours
		}
		return w.buf[:n], nil
	}
}

// withContext makes blocking reads return when ctx ends. The returned
// function undoes it.
func (w *Watcher) withContext(ctx context.Context) func() {
	stop := context.AfterFunc(ctx, func() { _ = w.f.SetReadDeadline(time.Unix(1, 0)) })
	return func() {
		stop()
		_ = w.f.SetReadDeadline(time.Time{})
	}
}

// Next blocks until the next kernel uevent (of any subsystem) or until ctx
// ends. Malformed messages are skipped.
func (w *Watcher) Next(ctx context.Context) (*Uevent, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	defer w.withContext(ctx)()
	for {
		msg, err := w.recv(true)
		if err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) && ctx.Err() != nil {
				return nil, ctx.Err()
			}
			return nil, err
		}
		ev, err := ParseUevent(msg)
		if err != nil {
			continue
		}
		return ev, nil
	}
}

// waitBlockEvent blocks until a block add/change uevent arrives (or the
// queue overflowed, which may have hidden one), then drains whatever else
// is queued so one rescan covers a burst.
func (w *Watcher) waitBlockEvent(ctx context.Context) error {
	for {
		ev, err := w.Next(ctx)
		if errors.Is(err, errOverflow) {
			break
		}
		if err != nil {
			return err
		}
		if ev.IsBlockArrival() {
			break
		}
	}
	for {
		msg, err := w.recv(false)
		if msg == nil && (err == nil || !errors.Is(err, errOverflow)) {
			return nil
		}
	}
}

// WaitFor returns the one device sel names. It scans at once, then again
// after every block add/change uevent, until a device matches or ctx ends.
// If ctx ends first the error is a *NotFoundError listing what the last
// scan saw, with Cause set to ctx.Err(). Two or more matches give a
// *AmbiguousError at once.
func (w *Watcher) WaitFor(ctx context.Context, sel Selector, scan ScanFunc) (*Device, error) {
	return w.wait(ctx, sel, sel.Matches, scan)
}

// WaitFunc is WaitFor with an arbitrary predicate, e.g. "the disk at SCSI
// host 3 LUN 1" after an iSCSI login. desc describes what is waited for in
// errors.
func (w *Watcher) WaitFunc(ctx context.Context, desc string, match func(Device) bool, scan ScanFunc) (*Device, error) {
	return w.wait(ctx, Selector{Raw: desc}, match, scan)
}

func (w *Watcher) wait(ctx context.Context, sel Selector, match func(Device) bool, scan ScanFunc) (*Device, error) {
	var last []Device
	for {
		devs, err := scan()
		if err != nil {
			return nil, fmt.Errorf("wait for %s: %w", sel, err)
		}
		last = devs
		var found []Device
		for _, d := range devs {
			if match(d) {
				found = append(found, d)
			}
		}
		switch {
		case len(found) == 1:
			return &found[0], nil
		case len(found) > 1:
			return nil, &AmbiguousError{Selector: sel, Matches: found}
		}
		if err := w.waitBlockEvent(ctx); err != nil {
			if ctx.Err() != nil {
				return nil, &NotFoundError{Selector: sel, Seen: last, Cause: ctx.Err()}
			}
			return nil, fmt.Errorf("wait for %s: %w", sel, err)
		}
	}
}

// RereadPartitions asks the kernel to re-read the partition table of the
// disk at path (ioctl BLKRRPART), for when it did not on its own. It fails
// with EBUSY if a partition of the disk is in use.
func RereadPartitions(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("re-read partition table: %w", err)
	}
	defer f.Close()
	rc, err := f.SyscallConn()
	if err != nil {
		return fmt.Errorf("re-read partition table of %s: %w", path, err)
	}
	var ierr error
	if err := rc.Control(func(fd uintptr) {
		ierr = unix.IoctlSetInt(int(fd), unix.BLKRRPART, 0)
	}); err != nil {
		return fmt.Errorf("re-read partition table of %s: %w", path, err)
	}
	if ierr != nil {
		return fmt.Errorf("re-read partition table of %s (BLKRRPART): %w", path, ierr)
	}
	return nil
}
