//! `serial` (hw/char/serial.c and serial-isa.c): the 16550A UART, including its
//! FIFOs whose length comes from a field that is not migrated (QEMU's VBUFFER).

use vmstate_runtime::{Timer, VMState};

/// Bytes in each UART FIFO.
pub const UART_FIFO_LENGTH: u32 = 16;

/// The ISA serial port section.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "serial", version = 3, minimum_version = 2)]
pub struct IsaSerial {
    /// The UART.
    pub state: Serial,
}

/// The UART.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "serial", version = 3, minimum_version = 2)]
pub struct Serial {
    /// Baud divisor.
    #[vmstate(version = 2..)]
    pub divider: u16,
    /// Receive buffer.
    pub rbr: u8,
    /// Interrupt enable.
    pub ier: u8,
    /// Interrupt identification.
    pub iir: u8,
    /// Line control.
    pub lcr: u8,
    /// Modem control.
    pub mcr: u8,
    /// Line status.
    pub lsr: u8,
    /// Modem status.
    pub msr: u8,
    /// Scratch.
    pub scr: u8,
    /// FIFO control.
    #[vmstate(version = 3..)]
    pub fcr_vmstate: u8,
    /// THR interrupt pending.
    #[vmstate(subsection)]
    pub thr_ipending: Option<SerialThrIpending>,
    /// Transmit shift register.
    #[vmstate(subsection)]
    pub tsr: Option<SerialTsr>,
    /// Receive FIFO.
    #[vmstate(subsection)]
    pub recv_fifo: Option<SerialRecvFifo>,
    /// Transmit FIFO.
    #[vmstate(subsection)]
    pub xmit_fifo: Option<SerialXmitFifo>,
    /// FIFO timeout timer.
    #[vmstate(subsection)]
    pub fifo_timeout_timer: Option<SerialFifoTimeoutTimer>,
    /// Timeout interrupt pending.
    #[vmstate(subsection)]
    pub timeout_ipending: Option<SerialTimeoutIpending>,
    /// Modem status polling.
    #[vmstate(subsection)]
    pub poll: Option<SerialPoll>,
}

/// `serial/thr_ipending`.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "serial/thr_ipending", version = 1)]
pub struct SerialThrIpending {
    /// Pending.
    pub thr_ipending: i32,
}

/// `serial/tsr`.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "serial/tsr", version = 1)]
pub struct SerialTsr {
    /// Retries.
    pub tsr_retry: i32,
    /// Holding register.
    pub thr: u8,
    /// Shift register.
    pub tsr: u8,
}

/// QEMU's `Fifo8`: `capacity` bytes of storage, not migrated itself.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Debug, PartialEq)]
#[vmstate(name = "Fifo8", version = 1)]
pub struct Fifo8 {
    /// Storage size, set by the device, not sent.
    #[vmstate(skip)]
    pub capacity: u32,
    /// The storage.
    #[vmstate(version = 1.., len = capacity, max = 65536)]
    pub data: Vec<u8>,
    /// Read position.
    pub head: u32,
    /// Bytes held.
    #[vmstate(validate = Fifo8::check_positions)]
    pub num: u32,
}

impl Fifo8 {
    /// An empty FIFO of `capacity` bytes (QEMU's `fifo8_create`).
    pub fn with_capacity(capacity: u32) -> Self {
        Fifo8 {
            capacity,
            data: vec![0; capacity as usize],
            head: 0,
            num: 0,
        }
    }

    /// `head` and `num` index the storage: a stream may not point them past it (the
    /// class of CVE-2013-4530 and its siblings, where QEMU used such an index from
    /// the stream unchecked). A QEMU stream always satisfies this.
    fn check_positions(&self, _version: u32) -> Result<(), String> {
        if self.head < self.capacity && self.num <= self.capacity {
            Ok(())
        } else {
            Err(format!(
                "head {} or num {} outside the {} bytes of the FIFO",
                self.head, self.num, self.capacity
            ))
        }
    }
}

impl Default for Fifo8 {
    /// A 16550 UART's FIFO.
    fn default() -> Self {
        Fifo8::with_capacity(UART_FIFO_LENGTH)
    }
}

/// `serial/recv_fifo`.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "serial/recv_fifo", version = 1)]
pub struct SerialRecvFifo {
    /// The FIFO.
    #[vmstate(version = 1..)]
    pub recv_fifo: Fifo8,
}

/// `serial/xmit_fifo`.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "serial/xmit_fifo", version = 1)]
pub struct SerialXmitFifo {
    /// The FIFO.
    #[vmstate(version = 1..)]
    pub xmit_fifo: Fifo8,
}

/// `serial/fifo_timeout_timer`.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "serial/fifo_timeout_timer", version = 1)]
pub struct SerialFifoTimeoutTimer {
    /// The timer.
    pub fifo_timeout_timer: Timer,
}

/// `serial/timeout_ipending`.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "serial/timeout_ipending", version = 1)]
pub struct SerialTimeoutIpending {
    /// Pending.
    pub timeout_ipending: i32,
}

/// `serial/poll`.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "serial/poll", version = 1)]
pub struct SerialPoll {
    /// Last modem status.
    pub poll_msl: i32,
    /// Poll timer.
    pub modem_status_poll: Timer,
}
