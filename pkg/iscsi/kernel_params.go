package iscsi

import (
	"fmt"
	"net"
	"strconv"
)

// ParamID is a Linux `enum iscsi_param` value (include/uapi/scsi/iscsi_if.h).
// The numbering is ABI; iscsinl defines 0..34, the rest are defined here.
type ParamID uint32

// Kernel iSCSI parameters used by the hand-off.
const (
	ParamMaxRecvDLength    ParamID = 0
	ParamMaxXmitDLength    ParamID = 1
	ParamHdrDgstEn         ParamID = 2
	ParamDataDgstEn        ParamID = 3
	ParamInitialR2TEn      ParamID = 4
	ParamMaxR2T            ParamID = 5
	ParamImmDataEn         ParamID = 6
	ParamFirstBurst        ParamID = 7
	ParamMaxBurst          ParamID = 8
	ParamPDUInOrderEn      ParamID = 9
	ParamDataSeqInOrderEn  ParamID = 10
	ParamERL               ParamID = 11
	ParamIFMarkerEn        ParamID = 12
	ParamOFMarkerEn        ParamID = 13
	ParamExpStatSN         ParamID = 14
	ParamTargetName        ParamID = 15
	ParamTPGT              ParamID = 16
	ParamPersistentAddress ParamID = 17
	ParamPersistentPort    ParamID = 18
	ParamSessRecoveryTmo   ParamID = 19
	ParamConnPort          ParamID = 20
	ParamConnAddress       ParamID = 21
	ParamUsername          ParamID = 22
	ParamUsernameIn        ParamID = 23
	ParamPassword          ParamID = 24
	ParamPasswordIn        ParamID = 25
	ParamFastAbort         ParamID = 26
	ParamAbortTmo          ParamID = 27
	ParamLUResetTmo        ParamID = 28
	ParamHostResetTmo      ParamID = 29
	ParamPingTmo           ParamID = 30
	ParamRecvTmo           ParamID = 31
	ParamIfaceName         ParamID = 32
	ParamISID              ParamID = 33
	ParamInitiatorName     ParamID = 34
	ParamTgtResetTmo       ParamID = 35
	ParamTargetAlias       ParamID = 36
	ParamDefTime2Wait      ParamID = 49
	ParamDefTime2Retain    ParamID = 50
	ParamDiscoverySess     ParamID = 43
	ParamMaxSegmentSize    ParamID = 51
	ParamStatSN            ParamID = 52
	ParamTSID              ParamID = 55
	ParamDefTaskMgmtTmo    ParamID = 56
)

// KernelOptions tune the kernel session created by the hand-off.
type KernelOptions struct {
	// CmdsMax is the kernel's command pool size; 0 means 128.
	CmdsMax uint16
	// QueueDepth is the per-LUN queue depth; 0 means 32.
	QueueDepth uint16
	// RecoveryTimeoutSec is the replacement timeout: how long I/O is queued
	// while the connection is down before it fails. For a root disk it must
	// outlast any network outage. Unless RecoveryTimeoutSet, 0 means
	// DefaultRecoveryTimeoutSec.
	RecoveryTimeoutSec int
	// RecoveryTimeoutSet says RecoveryTimeoutSec was configured
	// (node.session.timeo.replacement_timeout): then 0 fails I/O at once
	// when the connection drops and a negative value queues it until the
	// session is back, as in open-iscsi (the kernel passes both through).
	RecoveryTimeoutSet bool
	// NoopIntervalSec/NoopTimeoutSec drive the kernel's NOP-Out pings;
	// open-iscsi advises disabling them (0) for iSCSI root so a short outage
	// does not fail the connection while no recovery daemon runs. Negative
	// means 0.
	NoopIntervalSec, NoopTimeoutSec int
	// IfaceName is reported in sysfs; "" means "default".
	IfaceName string
	// Logf receives notes about optional parameters the kernel refused.
	Logf func(format string, args ...any)
}

// DefaultRecoveryTimeoutSec is the replacement timeout used for a root disk
// (one day): I/O waits for the connection to come back rather than failing
// the root file system.
const DefaultRecoveryTimeoutSec = 86400

// KernelParam is one SET_PARAM call of the hand-off.
type KernelParam struct {
	ID    ParamID
	Name  string
	Value string
	// Optional parameters may be refused by the kernel (ENOSYS on older
	// kernels or transports without the feature); the hand-off goes on.
	Optional bool
	// Secret values must never be logged.
	Secret bool
}

// String prints the parameter with secrets redacted.
func (p KernelParam) String() string {
	v := p.Value
	if p.Secret {
		v = redacted(v)
	}
	return fmt.Sprintf("%s=%s", p.Name, v)
}

// GoString is like String, so %#v does not leak secrets.
func (p KernelParam) GoString() string { return "iscsi.KernelParam{" + p.String() + "}" }

// Format implements fmt.Formatter so that every verb prints the redacted form.
func (p KernelParam) Format(f fmt.State, verb rune) {
	if verb == 'v' && f.Flag('#') {
		fmt.Fprint(f, p.GoString())
		return
	}
	fmt.Fprint(f, p.String())
}

func boolParam(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

func digestParam(d string) string { return boolParam(d == "CRC32C") }

// KernelParams returns the SET_PARAM calls, in order, that configure the
// kernel session from a logged-in Session (the same set open-iscsi sends,
// plus ISID and marker/time2wait keys as optional ones).
func KernelParams(s *Session, o KernelOptions) ([]KernelParam, error) {
	host, portStr, err := net.SplitHostPort(s.Portal)
	if err != nil {
		return nil, fmt.Errorf("iscsi: kernel parameters: portal %q: %w", s.Portal, err)
	}
	port, err := strconv.ParseUint(portStr, 10, 16)
	if err != nil {
		return nil, fmt.Errorf("iscsi: kernel parameters: portal %q: bad port", s.Portal)
	}
	if s.TargetName == "" || s.InitiatorName == "" {
		return nil, fmt.Errorf("iscsi: kernel parameters: session lacks target or initiator name")
	}
	rec := o.RecoveryTimeoutSec
	if rec == 0 && !o.RecoveryTimeoutSet {
		rec = DefaultRecoveryTimeoutSec
	}
	iface := o.IfaceName
	if iface == "" {
		iface = "default"
	}
	p := s.Params
	u := func(v uint32) string { return strconv.FormatUint(uint64(v), 10) }
	i := func(v int) string { return strconv.Itoa(max(v, 0)) }
	params := []KernelParam{
		{ID: ParamMaxRecvDLength, Name: "MAX_RECV_DLENGTH", Value: u(p.MaxRecvDataSegmentLength)},
		{ID: ParamMaxXmitDLength, Name: "MAX_XMIT_DLENGTH", Value: u(p.MaxXmitDataSegmentLength)},
		{ID: ParamHdrDgstEn, Name: "HDRDGST_EN", Value: digestParam(p.HeaderDigest)},
		{ID: ParamDataDgstEn, Name: "DATADGST_EN", Value: digestParam(p.DataDigest)},
		{ID: ParamInitialR2TEn, Name: "INITIAL_R2T_EN", Value: boolParam(p.InitialR2T)},
		{ID: ParamMaxR2T, Name: "MAX_R2T", Value: u(p.MaxOutstandingR2T)},
		{ID: ParamImmDataEn, Name: "IMM_DATA_EN", Value: boolParam(p.ImmediateData)},
		{ID: ParamFirstBurst, Name: "FIRST_BURST", Value: u(p.FirstBurstLength)},
		{ID: ParamMaxBurst, Name: "MAX_BURST", Value: u(p.MaxBurstLength)},
		{ID: ParamPDUInOrderEn, Name: "PDU_INORDER_EN", Value: boolParam(p.DataPDUInOrder)},
		{ID: ParamDataSeqInOrderEn, Name: "DATASEQ_INORDER_EN", Value: boolParam(p.DataSequenceInOrder)},
		{ID: ParamERL, Name: "ERL", Value: u(p.ErrorRecoveryLevel)},
		// Markers are obsolete; iscsi_tcp lacks CAP_MARKERS and may refuse.
		{ID: ParamIFMarkerEn, Name: "IFMARKER_EN", Value: "0", Optional: true},
		{ID: ParamOFMarkerEn, Name: "OFMARKER_EN", Value: "0", Optional: true},
		{ID: ParamExpStatSN, Name: "EXP_STATSN", Value: u(s.ExpStatSN)},
		{ID: ParamTargetName, Name: "TARGET_NAME", Value: s.TargetName},
		{ID: ParamTPGT, Name: "TPGT", Value: strconv.Itoa(int(s.TPGT))},
		{ID: ParamPersistentAddress, Name: "PERSISTENT_ADDRESS", Value: host},
		{ID: ParamPersistentPort, Name: "PERSISTENT_PORT", Value: strconv.FormatUint(port, 10)},
		{ID: ParamSessRecoveryTmo, Name: "SESS_RECOVERY_TMO", Value: strconv.Itoa(rec)},
	}
	if s.AuthMethod == "CHAP" {
		c := s.Credentials
		params = append(params,
			KernelParam{ID: ParamUsername, Name: "USERNAME", Value: c.Username, Optional: true},
			KernelParam{ID: ParamPassword, Name: "PASSWORD", Value: c.Password, Optional: true, Secret: true})
		if c.Mutual() {
			params = append(params,
				KernelParam{ID: ParamUsernameIn, Name: "USERNAME_IN", Value: c.InUsername, Optional: true},
				KernelParam{ID: ParamPasswordIn, Name: "PASSWORD_IN", Value: c.InPassword, Optional: true, Secret: true})
		}
	}
	params = append(params,
		// open-iscsi defaults: fast abort on, abort 15s, LU/target reset 30s.
		KernelParam{ID: ParamFastAbort, Name: "FAST_ABORT", Value: "1", Optional: true},
		KernelParam{ID: ParamAbortTmo, Name: "ABORT_TMO", Value: "15", Optional: true},
		KernelParam{ID: ParamLUResetTmo, Name: "LU_RESET_TMO", Value: "30", Optional: true},
		KernelParam{ID: ParamTgtResetTmo, Name: "TGT_RESET_TMO", Value: "30", Optional: true},
		KernelParam{ID: ParamPingTmo, Name: "PING_TMO", Value: i(o.NoopTimeoutSec), Optional: true},
		KernelParam{ID: ParamRecvTmo, Name: "RECV_TMO", Value: i(o.NoopIntervalSec), Optional: true},
		KernelParam{ID: ParamIfaceName, Name: "IFACE_NAME", Value: iface, Optional: true},
		KernelParam{ID: ParamInitiatorName, Name: "INITIATOR_NAME", Value: s.InitiatorName},
		// Not set by open-iscsi for iscsi_tcp; harmless when refused.
		KernelParam{ID: ParamISID, Name: "ISID", Value: s.ISID.String(), Optional: true},
		KernelParam{ID: ParamDefTime2Wait, Name: "DEF_TIME2WAIT", Value: u(p.DefaultTime2Wait), Optional: true},
		KernelParam{ID: ParamDefTime2Retain, Name: "DEF_TIME2RETAIN", Value: u(p.DefaultTime2Retain), Optional: true},
	)
	if s.TargetAlias != "" {
		params = append(params, KernelParam{ID: ParamTargetAlias, Name: "TARGET_ALIAS", Value: s.TargetAlias, Optional: true})
	}
	for _, kp := range params {
		for j := 0; j < len(kp.Value); j++ {
			if kp.Value[j] == 0 {
				return nil, fmt.Errorf("iscsi: kernel parameter %s contains a NUL byte", kp.Name)
			}
		}
	}
	return params, nil
}
