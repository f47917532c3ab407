// Package iscsi implements the initiator side of an iSCSI login (RFC 7143)
// over any net.Conn, and hands the logged-in connection to the Linux
// kernel's iscsi_tcp driver.
//
// The package is split into pure parts that run anywhere (the PDU codec in
// pdu.go, the text key=value codec in text.go, operational key negotiation in
// negotiate.go, CHAP in chap.go, the login state machine in login.go and the
// retrying Connect in connect.go) and thin Linux-only seams (kernel.go for the
// netlink hand-off, sysfs.go for LUN scanning and block device lookup).
//
// Secrets (CHAP passwords) never appear in errors, logs or String output.
package iscsi
