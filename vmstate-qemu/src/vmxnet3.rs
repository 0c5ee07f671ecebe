//! `vmxnet3/mcast_list` (hw/net/vmxnet3.c): the one part of the generated vmxnet3
//! mirror (`catalog/vmxnet3.rs`) whose length its parent section sends.

use vmstate_runtime::VMState;

/// The longest multicast list a guest can set: its driver gives the table's
/// length in bytes as a 16-bit value (`rxFilterConf.mfTableLen`), six per address.
pub const VMXNET3_MCAST_LIST_MAX: usize = 65536;

/// `vmxnet3/mcast_list`: the multicast filter's addresses, six bytes each. Its
/// length in bytes is the main section's `mcast_list_buff_size`; QEMU allocates
/// that much from the stream unchecked (`vmxnet3_mcast_list_pre_load`), the mirror
/// refuses more than a guest can set.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "vmxnet3/mcast_list", version = 1)]
pub struct Vmxnet3McastList {
    /// The length the parent section sent (`mcast_list_buff_size`).
    #[vmstate(skip)]
    pub buff_size: u32,
    /// The addresses.
    #[vmstate(len = buff_size, max = 65536)]
    pub mcast_list: Vec<u8>,
}

impl Vmxnet3McastList {
    /// The subsection as a load of a main section with `buff_size` finds it.
    pub fn sized(buff_size: u32) -> Self {
        Vmxnet3McastList {
            buff_size,
            mcast_list: Vec::new(),
        }
    }
}
