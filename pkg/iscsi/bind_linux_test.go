package iscsi

import (
	"context"
	"errors"
	"net"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// boundDevice is the interface conn's socket is bound to ("" for none).
func boundDevice(t *testing.T, conn net.Conn) string {
	t.Helper()
	rc, err := conn.(*net.TCPConn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var dev string
	var gerr error
	rc.Control(func(fd uintptr) { dev, gerr = unix.GetsockoptString(int(fd), unix.SOL_SOCKET, unix.SO_BINDTODEVICE) })
	if gerr != nil {
		t.Fatalf("getsockopt SO_BINDTODEVICE: %v", gerr)
	}
	return dev
}

// TestDialContextBindsToTheDevice: the device the context carries is the
// socket's before it connects; without one the socket is not bound.
func TestDialContextBindsToTheDevice(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	for _, dev := range []string{"lo", ""} {
		conn, err := DialContext(WithDevice(context.Background(), dev), "tcp", ln.Addr().String())
		if err != nil {
			t.Fatalf("device %q: %v", dev, err)
		}
		if got := boundDevice(t, conn); got != dev {
			t.Errorf("bound to %q, want %q", got, dev)
		}
		conn.Close()
	}
}

// TestConnectToAMissingDeviceFailsAtOnce: an interface that does not
// exist is a name to correct: Connect gives up after one attempt, with
// the error and hint naming it, instead of retrying until rd.retry.
func TestConnectToAMissingDeviceFailsAtOnce(t *testing.T) {
	start := time.Now()
	_, _, err := Connect(context.Background(), LoginConfig{InitiatorName: testInitiator, TargetName: "iqn.x:y",
		Portal: "127.0.0.1:9", Device: "nosuchnic9"}, ConnectOptions{MaxAttempts: 5, InitialBackoff: time.Second})
	be, ok := errors.AsType[*BindError](err)
	if !ok || be.Device != "nosuchnic9" || !errors.Is(err, syscall.ENODEV) {
		t.Fatalf("err = %v, want a BindError of nosuchnic9 (ENODEV)", err)
	}
	le, _ := errors.AsType[*LoginError](err)
	if le == nil || !strings.Contains(le.Hint, "binds the login to nosuchnic9") {
		t.Errorf("hint: %+v", le)
	}
	if !strings.Contains(err.Error(), "binding the connection to nosuchnic9") {
		t.Errorf("error %q does not say what failed", err)
	}
	if d := time.Since(start); d > 900*time.Millisecond {
		t.Errorf("gave up after %v: retried a missing interface", d)
	}
}

// TestConnectCarriesTheDeviceToDial: LoginConfig.Device reaches any Dial
// (a wrapper of DialContext: /init's dead-path check) in its context.
func TestConnectCarriesTheDeviceToDial(t *testing.T) {
	var got []string
	dial := func(ctx context.Context, network, address string) (net.Conn, error) {
		got = append(got, Device(ctx))
		return nil, syscall.ECONNREFUSED
	}
	for _, dev := range []string{"eth1", ""} {
		Connect(context.Background(), LoginConfig{InitiatorName: testInitiator, TargetName: "iqn.x:y", Portal: "127.0.0.1:9", Device: dev},
			ConnectOptions{MaxAttempts: 1, Dial: dial})
		DiscoverPortal(context.Background(), DiscoveryConfig{InitiatorName: testInitiator, Portal: "127.0.0.1:9", Device: dev},
			ConnectOptions{MaxAttempts: 1, Dial: dial})
	}
	if want := []string{"eth1", "eth1", "", ""}; !slices.Equal(got, want) {
		t.Errorf("devices dialled %q, want %q", got, want)
	}
}
