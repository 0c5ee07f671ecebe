use vmstate_runtime::VMState;

#[derive(VMState)]
#[vmstate(name = "uart", version = 1, ber_tag = 20)]
struct Uart {
    lsr: u8,
}

#[derive(VMState)]
#[vmstate(name = "rtc", version = 1, ber_tag = 20)]
struct Rtc {
    cmos: [u8; 4],
}

fn main() {}
