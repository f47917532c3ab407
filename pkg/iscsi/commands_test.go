//go:build linux

package iscsi

import (
	"bytes"
	"encoding/binary"
	"errors"
	"strings"
	"syscall"
	"testing"

	"github.com/u-root/iscsinl"
	"golang.org/x/sys/unix"
)

// fakeNetlink answers requests as scsi_transport_iscsi does: the request's
// iscsi_uevent sent back with the reply union filled in, as a message of
// the request's type; a failed request's UEvent is turned into an
// ISCSI_KEVENT_IF_ERROR carrying the errno. answer decides each reply;
// before it, the fake may queue other messages (a late reply, an event).
type fakeNetlink struct {
	t       *testing.T
	sent    [][]byte
	queue   [][]byte
	answer  func(req UEvent, data []byte) (rep UEvent, ifErr int32)
	before  func(req UEvent) [][]byte
	timeout bool
}

func nlMessage(typ uint16, payload []byte) []byte {
	m := make([]byte, nlHdrLen+len(payload))
	binary.LittleEndian.PutUint32(m[0:], uint32(len(m)))
	binary.LittleEndian.PutUint16(m[4:], typ)
	copy(m[nlHdrLen:], payload)
	return m
}

func (ev UEvent) bytes() []byte {
	b := make([]byte, UEventLen)
	ev.marshal(b)
	return b
}

func (k *fakeNetlink) send(b []byte) error {
	k.sent = append(k.sent, append([]byte(nil), b...))
	if got := binary.LittleEndian.Uint32(b); int(got) != len(b) {
		k.t.Errorf("nlmsg_len %d, message %d bytes", got, len(b))
	}
	req, err := ParseUEvent(b[nlHdrLen:])
	if err != nil {
		k.t.Fatal(err)
	}
	if k.before != nil {
		k.queue = append(k.queue, k.before(req)...)
	}
	if k.timeout {
		return nil
	}
	rep, ifErr := k.answer(req, b[nlHdrLen+UEventLen:])
	if ifErr != 0 {
		rep.Type, rep.IfError = keventIfError, uint32(ifErr)
	}
	k.queue = append(k.queue, nlMessage(uint16(req.Type), rep.bytes()))
	return nil
}

func (k *fakeNetlink) recv(b []byte) (int, error) {
	if len(k.queue) == 0 {
		return 0, unix.EAGAIN
	}
	n := copy(b, k.queue[0])
	k.queue = k.queue[1:]
	return n, nil
}

func (k *fakeNetlink) close() error { return nil }

func TestCommands(t *testing.T) {
	k := &fakeNetlink{t: t}
	c := newCommands(0xffffffffa0001234, k)
	var reqs []UEvent
	k.answer = func(req UEvent, data []byte) (UEvent, int32) {
		if req.TransportHandle != c.Handle() {
			t.Errorf("request for handle %#x", req.TransportHandle)
		}
		reqs = append(reqs, req)
		rep := req
		switch iscsinl.IscsiEvent(req.Type) {
		case iscsinl.ISCSI_UEVENT_CREATE_SESSION:
			binary.LittleEndian.PutUint32(rep.Ret[0:], 5) // sid
			binary.LittleEndian.PutUint32(rep.Ret[4:], 9) // host
		case iscsinl.ISCSI_UEVENT_CREATE_CONN:
			copy(rep.Ret[0:4], req.Req[0:4])
			binary.LittleEndian.PutUint32(rep.Ret[4:], 0)
		case iscsinl.ISCSI_UEVENT_SET_PARAM:
			if string(data) != "262144\x00" {
				t.Errorf("set param data %q", data)
			}
		}
		return rep, 0
	}
	sid, host, err := c.CreateSession(128, 32)
	if err != nil || sid != 5 || host != 9 {
		t.Fatalf("create session: %d %d %v", sid, host, err)
	}
	if cid, err := c.CreateConnection(sid); err != nil || cid != 0 {
		t.Fatalf("create connection: %d %v", cid, err)
	}
	if err := c.BindConnection(sid, 0, 7); err != nil {
		t.Fatal(err)
	}
	if err := c.SetParam(sid, 0, iscsinl.ISCSI_PARAM_MAX_RECV_DLENGTH, "262144"); err != nil {
		t.Fatal(err)
	}
	for _, f := range []func() error{
		func() error { return c.StartConnection(sid, 0) },
		func() error { return c.StopConnection(sid, 0) },
		func() error { return c.StopConnectionTerm(sid, 0) },
		func() error { return c.UnbindSession(sid) },
		func() error { return c.DestroyConnection(sid, 0) },
		func() error { return c.DestroySession(sid) },
	} {
		if err := f(); err != nil {
			t.Fatal(err)
		}
	}
	le := binary.LittleEndian
	want := []struct {
		typ uint32
		req []uint32 // the request union's words
	}{
		{uint32(iscsinl.ISCSI_UEVENT_CREATE_SESSION), []uint32{0, 32<<16 | 128}},
		{uint32(iscsinl.ISCSI_UEVENT_CREATE_CONN), []uint32{5, 0}},
		{uint32(iscsinl.ISCSI_UEVENT_BIND_CONN), []uint32{5, 0, 7, 0, 1}},
		{uint32(iscsinl.ISCSI_UEVENT_SET_PARAM), []uint32{5, 0, uint32(iscsinl.ISCSI_PARAM_MAX_RECV_DLENGTH), 7}},
		{uint32(iscsinl.ISCSI_UEVENT_START_CONN), []uint32{5, 0}},
		{uint32(iscsinl.ISCSI_UEVENT_STOP_CONN), []uint32{5, 0, 0, 0, stopConnRecover}},
		{uint32(iscsinl.ISCSI_UEVENT_STOP_CONN), []uint32{5, 0, 0, 0, stopConnTerm}},
		{ueventUnbindSession, []uint32{5}},
		{uint32(iscsinl.ISCSI_UEVENT_DESTROY_CONN), []uint32{5, 0}},
		{uint32(iscsinl.ISCSI_UEVENT_DESTROY_SESSION), []uint32{5}},
	}
	if len(reqs) != len(want) {
		t.Fatalf("%d requests, want %d", len(reqs), len(want))
	}
	for i, w := range want {
		r := reqs[i]
		if r.Type != w.typ || le.Uint16(k.sent[i][4:]) != uint16(w.typ) || le.Uint16(k.sent[i][6:]) != unix.NLM_F_REQUEST {
			t.Errorf("request %d: type %d (header %d), want %d", i, r.Type, le.Uint16(k.sent[i][4:]), w.typ)
		}
		for j, v := range w.req {
			if got := le.Uint32(r.Req[4*j:]); got != v {
				t.Errorf("request %d (type %d): word %d is %d, want %d", i, r.Type, j, got, v)
			}
		}
	}
}

func TestCommandsSendPDU(t *testing.T) {
	k := &fakeNetlink{t: t}
	var got []byte
	k.answer = func(req UEvent, data []byte) (UEvent, int32) {
		got = append([]byte(nil), data...)
		if h, d := binary.LittleEndian.Uint32(req.Req[8:]), binary.LittleEndian.Uint32(req.Req[12:]); h != 48 || d != 4 {
			t.Errorf("sizes %d+%d", h, d)
		}
		return req, 0
	}
	c := newCommands(1, k)
	pdu := rawTestPDU{hdr: bytes.Repeat([]byte{0x46}, 48), data: []byte("data")}
	if err := c.SendPDU(2, 0, pdu); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, pdu.Serialize()) {
		t.Errorf("PDU bytes %x", got)
	}
}

type rawTestPDU struct{ hdr, data []byte }

func (p rawTestPDU) HeaderLen() uint32 { return uint32(len(p.hdr)) }
func (p rawTestPDU) DataLen() uint32   { return uint32(len(p.data)) }
func (p rawTestPDU) Serialize() []byte { return append(append([]byte(nil), p.hdr...), p.data...) }

// The kernel's refusals are typed: an IF_ERROR reply, a return code, a
// netlink error; and what is not the reply to this request is skipped —
// a late reply to another request of the same type, a message of another
// type, an event — instead of failing the request (iscsinl's socket
// failed a request on any session's connection error).
func TestCommandsReplies(t *testing.T) {
	bindReply := func(ret int32) func(UEvent, []byte) (UEvent, int32) {
		return func(req UEvent, _ []byte) (UEvent, int32) {
			binary.LittleEndian.PutUint32(req.Ret[0:], uint32(ret))
			return req, 0
		}
	}
	connError := UEvent{Type: uint32(iscsinl.ISCSI_KEVENT_CONN_ERROR)}
	binary.LittleEndian.PutUint32(connError.Req[0:], 1)
	for _, tc := range []struct {
		name    string
		answer  func(UEvent, []byte) (UEvent, int32)
		before  func(UEvent) [][]byte
		timeout bool
		errno   syscall.Errno
		err     string
	}{
		{name: "ok", answer: bindReply(0)},
		{name: "return code", answer: bindReply(-int32(syscall.ENOTCONN)), errno: syscall.ENOTCONN, err: "the kernel refused bind connection: transport endpoint is not connected"},
		{name: "if error", answer: func(req UEvent, _ []byte) (UEvent, int32) { return req, -int32(syscall.EINVAL) }, errno: syscall.EINVAL},
		{name: "netlink error", before: func(UEvent) [][]byte {
			return [][]byte{nlMessage(unix.NLMSG_ERROR, []byte{0xf3, 0xff, 0xff, 0xff})} // -13
		}, timeout: true, errno: syscall.EACCES},
		{name: "skips what is not its reply", answer: bindReply(0), before: func(req UEvent) [][]byte {
			late := req
			binary.LittleEndian.PutUint32(late.Req[0:], 99) // another session's bind
			binary.LittleEndian.PutUint32(late.Ret[0:], uint32(0xffffffea))
			other := req
			other.Type = uint32(iscsinl.ISCSI_UEVENT_START_CONN)
			binary.LittleEndian.PutUint32(other.Ret[0:], uint32(0xffffffea))
			return [][]byte{
				nlMessage(uint16(req.Type), late.bytes()),
				nlMessage(uint16(iscsinl.ISCSI_UEVENT_START_CONN), other.bytes()),
				nlMessage(uint16(iscsinl.ISCSI_KEVENT_CONN_ERROR), connError.bytes()),
				{1, 2, 3}, // not netlink
			}
		}},
		{name: "no reply", timeout: true, err: "no reply from the kernel to bind connection"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k := &fakeNetlink{t: t, answer: tc.answer, before: tc.before, timeout: tc.timeout}
			err := newCommands(1, k).BindConnection(1, 0, 5)
			switch {
			case tc.errno != 0:
				ke, ok := errors.AsType[*KernelError](err)
				if !ok || ke.Errno != tc.errno || !errors.Is(err, tc.errno) {
					t.Fatalf("err %v, want a *KernelError with %v", err, tc.errno)
				}
			case tc.err == "" && err != nil:
				t.Fatal(err)
			}
			if tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)) {
				t.Errorf("err %v, want %q", err, tc.err)
			}
		})
	}
}

// Whatever the socket delivers, a request ends with its reply, an error
// or the timeout — never a panic.
func FuzzCommandsReply(f *testing.F) {
	req := UEvent{Type: uint32(iscsinl.ISCSI_UEVENT_BIND_CONN), TransportHandle: 1}
	req.put32(0, 1)
	req.put64(8, 5)
	req.put32(16, 1)
	f.Add(nlMessage(uint16(req.Type), req.bytes()))
	f.Add(nlMessage(unix.NLMSG_ERROR, []byte{0xf3, 0xff, 0xff, 0xff}))
	f.Add([]byte{1, 2, 3})
	f.Fuzz(func(t *testing.T, b []byte) {
		k := &fakeNetlink{t: t, timeout: true, before: func(UEvent) [][]byte { return [][]byte{b} }}
		newCommands(1, k).BindConnection(1, 0, 5)
	})
}
