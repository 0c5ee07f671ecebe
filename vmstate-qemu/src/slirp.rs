//! `slirp` (v4): user-mode networking, one section per `-netdev user`. QEMU saves it
//! in code (`net/slirp.c` hands the stream to libslirp's `slirp_state_save`,
//! `src/state.c` of libslirp 4.7), so QEMU's vmdesc describes it as one `data`
//! buffer (the `old_style` attribute).
//!
//! In the buffer: the sockets of the guest forwards that connect to a program
//! (`guestfwd=...-cmd:...`), each after a byte 42, then a byte 0; then libslirp's own
//! `VMStateDescription`s, written by its copy of QEMU's VMState code.

use vmstate_runtime::{MarkedList, VMState};

/// BOOTP leases libslirp keeps (`NB_BOOTP_CLIENTS`).
pub const NB_BOOTP_CLIENTS: usize = 16;

/// `slirp` (v4): the section.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "slirp", version = 4, minimum_version = 4, old_style)]
pub struct Slirp {
    /// Everything, as QEMU's one `data` buffer.
    pub data: SlirpData,
}

/// The section's bytes, typed (one OCTET STRING in BER, as for any buffer).
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Debug, Default, PartialEq)]
#[vmstate(transparent, info = "buffer")]
pub struct SlirpData(pub SlirpState);

/// What `slirp_state_save` writes.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "slirp-state", version = 4)]
pub struct SlirpState {
    /// The sockets of command guest forwards.
    pub sockets: MarkedList<SlirpSocket, 42>,
    /// libslirp's `slirp` description.
    pub slirp: SlirpVmsd,
}

/// libslirp's `slirp` (v4).
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "slirp", version = 4, minimum_version = 4)]
pub struct SlirpVmsd {
    /// The next IP datagram id.
    pub ip_id: u16,
    /// The BOOTP leases.
    pub bootp_clients: [BootpClient; NB_BOOTP_CLIENTS],
}

/// `slirp_bootpclient`: a lease.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Copy, Debug, Default, PartialEq)]
#[vmstate(name = "slirp_bootpclient", version = 0)]
pub struct BootpClient {
    /// Whether the lease is taken.
    pub allocated: u16,
    /// The client's MAC address.
    pub macaddr: [u8; 6],
}

/// `slirp-socket` (v4): a guest forward's connection.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "slirp-socket", version = 4, minimum_version = 4)]
#[allow(missing_docs)]
pub struct SlirpSocket {
    /// Urgent data to send.
    pub so_urgc: u32,
    /// The foreign (guest-side) address.
    pub fhost: SlirpSocketAddr,
    /// The local address.
    pub lhost: SlirpSocketAddr,
    pub so_iptos: u8,
    pub so_emu: u8,
    pub so_type: u8,
    pub so_state: i32,
    /// The receive buffer.
    pub so_rcv: SlirpSbuf,
    /// The send buffer.
    pub so_snd: SlirpSbuf,
    /// The TCP control block (behind a pointer).
    pub so_tcpcb: Box<SlirpTcp>,
}

/// `ss_family` of a socket address as sent: 2 for IPv4, 10 for IPv6.
pub const SS_FAMILY_MIG_IPV4: u16 = 2;

/// `slirp-socket-addr` (v4): an address; only IPv4 ones carry address and port.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "slirp-socket-addr", version = 4)]
pub struct SlirpSocketAddr {
    /// The family, in a portable numbering (a temporary struct).
    #[vmstate(tmp)]
    pub ss_family: SlirpSsFamily,
    /// The IPv4 address as the C struct holds it (network order), sent as a
    /// big-endian `u32` of the host's reading.
    #[vmstate(rename = "sin.sin_addr.s_addr", exists = |a, _| a.ss_family.portable_family == SS_FAMILY_MIG_IPV4)]
    pub sin_addr: u32,
    /// The port, likewise.
    #[vmstate(rename = "sin.sin_port", exists = |a, _| a.ss_family.portable_family == SS_FAMILY_MIG_IPV4)]
    pub sin_port: u16,
}

/// `slirp-socket-addr/ss_family` (a temporary struct).
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "slirp-socket-addr/ss_family", version = 0)]
pub struct SlirpSsFamily {
    #[allow(missing_docs)]
    pub portable_family: u16,
}

/// `slirp-sbuf`: a socket buffer and where its reader and writer are.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "slirp-sbuf", version = 0)]
pub struct SlirpSbuf {
    /// Bytes in the buffer.
    pub sb_cc: u32,
    /// The buffer's size.
    pub sb_datalen: u32,
    /// The read and write offsets (a temporary struct).
    #[vmstate(tmp)]
    pub offsets: SlirpSbufOffsets,
    /// The buffer (at most 128 KiB and a segment).
    #[vmstate(len = sb_datalen, max = 262144)]
    pub sb_data: Vec<u8>,
}

/// `slirp-sbuf-tmp`.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "slirp-sbuf-tmp", version = 0)]
#[allow(missing_docs)]
pub struct SlirpSbufOffsets {
    pub woff: u32,
    pub roff: u32,
}

/// `slirp-tcp`: the TCP control block (BSD's `tcpcb`).
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "slirp-tcp", version = 0)]
#[allow(missing_docs)]
pub struct SlirpTcp {
    pub t_state: i16,
    pub t_timer: [i16; 4],
    pub t_rxtshift: i16,
    pub t_rxtcur: i16,
    pub t_dupacks: i16,
    pub t_maxseg: u16,
    pub t_force: u8,
    pub t_flags: u16,
    pub snd_una: u32,
    pub snd_nxt: u32,
    pub snd_up: u32,
    pub snd_wl1: u32,
    pub snd_wl2: u32,
    pub iss: u32,
    pub snd_wnd: u32,
    pub rcv_wnd: u32,
    pub rcv_nxt: u32,
    pub rcv_up: u32,
    pub irs: u32,
    pub rcv_adv: u32,
    pub snd_max: u32,
    pub snd_cwnd: u32,
    pub snd_ssthresh: u32,
    pub t_idle: i16,
    pub t_rtt: i16,
    pub t_rtseq: u32,
    pub t_srtt: i16,
    pub t_rttvar: i16,
    pub t_rttmin: u16,
    pub max_sndwnd: u32,
    pub t_oobflags: u8,
    pub t_iobc: u8,
    pub t_softerror: i16,
    pub snd_scale: u8,
    pub rcv_scale: u8,
    pub request_r_scale: u8,
    pub requested_s_scale: u8,
    pub ts_recent: u32,
    pub ts_recent_age: u32,
    pub last_ack_sent: u32,
}
