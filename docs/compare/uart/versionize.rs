// The same state with versionize (Firecracker's): release 2 added the buffer.
#[derive(Versionize, Clone, Debug, Default, PartialEq)]
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
    #[version(start = 2, default_fn = "default_in_buffer")]
    pub in_buffer: Vec<u8>,
}

impl SerialState {
    fn default_in_buffer(_source_version: u16) -> Vec<u8> {
        Vec::new()
    }
}

// The application's releases and the struct's version in each.
fn version_map() -> VersionMap {
    let mut map = VersionMap::new();
    map.new_version().set_type_version(SerialState::type_id(), 2);
    map
}

pub fn save_for(state: &SerialState, release: u16) -> VersionizeResult<Vec<u8>> {
    let mut out = Vec::new();
    state.serialize(&mut out, &version_map(), release)?;
    Ok(out)
}

pub fn load_from(mut bytes: &[u8], release: u16) -> VersionizeResult<SerialState> {
    SerialState::deserialize(&mut bytes, &version_map(), release)
}
