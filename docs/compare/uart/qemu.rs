// The same state with QEMU's Rust `migration` bindings (as hw/char/pl011 uses
// them). QEMU saves at the current version only; the buffer is a fixed array
// and its length, as a VARRAY must be.
#[repr(C)]
#[derive(Debug, Default)]
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
    pub in_buffer_len: u32,
    pub in_buffer: [u8; 64],
}

impl_vmstate_struct!(
    SerialState,
    VMStateDescriptionBuilder::<SerialState>::new()
        .name(c"serial")
        .version_id(2)
        .minimum_version_id(1)
        .fields(vmstate_fields! {
            vmstate_of!(SerialState, baud_divisor_low),
            vmstate_of!(SerialState, baud_divisor_high),
            vmstate_of!(SerialState, interrupt_enable),
            vmstate_of!(SerialState, interrupt_identification),
            vmstate_of!(SerialState, line_control),
            vmstate_of!(SerialState, line_status),
            vmstate_of!(SerialState, modem_control),
            vmstate_of!(SerialState, modem_status),
            vmstate_of!(SerialState, scratch),
            vmstate_of!(SerialState, in_buffer_len).with_version_id(2),
            vmstate_of!(SerialState, in_buffer[0 .. in_buffer_len]).with_version_id(2),
        })
        .build()
);
