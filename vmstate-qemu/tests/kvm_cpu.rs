//! A real vCPU in QEMU's `cpu` layout: a KVM capture converted to the QEMU 7.2 `cpu`
//! mirror encodes with exactly the field layout QEMU 7.2 wrote for its own vCPU (the
//! fixture's vmdesc), decodes through that description, and converts back into a
//! state from which a fresh VM runs the guest on identically.

#![cfg(all(target_os = "linux", target_arch = "x86_64"))]

use vm_memory::{Bytes, GuestAddress};
use vmstate_qemu::X86Cpu;
use vmstate_runtime::{dump, legacy};
use vmstate_test_support::catalog::read_fixture;
use vmstate_test_support::kvm_guest::{Guest, MEM_SIZE};

/// The `fields` of a vmdesc device object, as JSON values.
fn fields(vmdesc: &str) -> serde_json::Value {
    let v: serde_json::Value = serde_json::from_str(vmdesc).unwrap();
    v["fields"].clone()
}

#[test]
fn a_captured_vcpu_in_qemus_cpu_layout_and_back() {
    if !vmstate_test_support::testing::kvm_available() {
        return;
    }
    let mut a = Guest::new(false).unwrap();
    a.boot().unwrap();
    a.run(300).unwrap();
    let (vcpu, vm) = a.capture().unwrap();
    let cpu = X86Cpu::from_kvm(&vcpu);
    assert_eq!(cpu.eip, vcpu.regs.rip);
    assert_eq!(cpu.regs[0], vcpu.regs.rax);
    assert_eq!(cpu.regs[3], vcpu.regs.rbx);
    // The guest runs in long mode with paging: QEMU's view of it says so.
    assert_eq!(cpu.cr3, 0x8000);
    assert_eq!(cpu.efer & (1 << 10), 1 << 10, "EFER.LMA");
    let (pe, lma, cs64) = (1 << 7, 1 << 14, 1 << 15);
    assert_eq!(cpu.hflags & (pe | lma | cs64), pe | lma | cs64, "hflags");
    assert_eq!(cpu.regs[12], vcpu.regs.r12);

    // QEMU 7.2's own description of its vCPU section.
    let fixture = read_fixture("pc-kvm-bios.mig");
    let s = dump::walk_legacy(&fixture).unwrap();
    let qemu_cpu = s.vmdesc_device_text("cpu", 0).unwrap();
    let ours = legacy::vmdesc_json(&cpu, "cpu", 0, 12);
    assert_eq!(
        fields(&ours),
        fields(qemu_cpu),
        "field layout differs from QEMU 7.2's"
    );

    // Our bytes decode through the description, and back into the typed mirror.
    let bytes = legacy::to_bytes_at(&cpu, 12).unwrap();
    let desc = dump::Desc::parse(&serde_json::from_str(&ours).unwrap(), 0).unwrap();
    let tree = dump::decode_body(&desc, &bytes, 0).unwrap();
    assert_eq!(tree["env.eip"], cpu.eip);
    let back: X86Cpu = legacy::from_bytes(&bytes, 12).unwrap();
    assert_eq!(back, cpu);

    // Back to KVM: a fresh VM given the converted state and the RAM runs on like the
    // original.
    let mut restored = vcpu.clone();
    back.apply_to(&mut restored);
    assert_eq!(restored.regs, vcpu.regs);
    assert_eq!(restored.sregs, vcpu.sregs);
    let mut b = Guest::new(false).unwrap();
    let mut mem = vec![0u8; MEM_SIZE];
    a.memory().read_slice(&mut mem, GuestAddress(0)).unwrap();
    b.memory().write_slice(&mem, GuestAddress(0)).unwrap();
    b.restore(&restored, &vm).unwrap();
    assert_eq!(b.run(500).unwrap(), a.run(500).unwrap());
}
