// vm-superio's SerialState in vmstate: release 2 added the input buffer.
#[derive(VMState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "serial", version = 2, minimum_version = 1)]
pub struct SerialState {
    pub baud_divisor_low: u8,
    pub baud_divisor_high: u8,
    pub interrupt_enable: u8,
    pub interrupt_identification: u8,
    pub line_control: u8,
    pub line_status: u8,
    pub modem_control: u8,
    pub modem_status: u8,
    pub scratch: u8,
    #[vmstate(version = 2..)]
    pub in_buffer: Vec<u8>,
}

pub fn save_for(state: &SerialState, release: u32) -> vmstate_runtime::Result<Vec<u8>> {
    vmstate_runtime::legacy::to_bytes_at(state, release)
}

pub fn load_from(bytes: &[u8], release: u32) -> vmstate_runtime::Result<SerialState> {
    vmstate_runtime::legacy::from_bytes(bytes, release)
}
