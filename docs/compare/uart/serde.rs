// The same state as Cloud Hypervisor keeps it: serde, one format for every
// release. An older release cannot be saved for: a new field is only given a
// default when it is missing from an older snapshot.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
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
    #[serde(default)]
    pub in_buffer: Vec<u8>,
}

pub fn save(state: &SerialState) -> serde_json::Result<Vec<u8>> {
    serde_json::to_vec(state)
}

pub fn load(bytes: &[u8]) -> serde_json::Result<SerialState> {
    serde_json::from_slice(bytes)
}
