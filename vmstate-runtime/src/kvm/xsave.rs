//! XSAVE state: the one place with `unsafe`, because kvm-ioctls marks these calls
//! unsafe (the kernel copies as many bytes as `KVM_CAP_XSAVE2` reports, which may
//! exceed the buffer). Every call below passes a buffer of exactly that size.
#![allow(unsafe_code)]

use super::{kvm_err, Host, Xsave, XsaveExtended};
use crate::error::Result;
use kvm_bindings::{kvm_xsave, Xsave as KvmXsave};
use kvm_ioctls::VcpuFd;
use zerocopy::IntoBytes;

/// `u32` entries after the legacy 4 KiB area on this host.
fn fam_len(host: &Host) -> usize {
    (host.xsave_size - std::mem::size_of::<kvm_xsave>()).div_ceil(4)
}

pub(super) fn capture(host: &Host, vcpu: &VcpuFd) -> Result<Xsave> {
    let mut out = Xsave::default();
    if host.xsave_size <= 4096 {
        let x = vcpu.get_xsave().map_err(|e| kvm_err("KVM_GET_XSAVE", e))?;
        out.region.copy_from_slice(x.region.as_bytes());
        return Ok(out);
    }
    let mut x = KvmXsave::new(fam_len(host)).map_err(|e| kvm_err("XSAVE buffer", e))?;
    // SAFETY: `x` holds the 4 KiB `kvm_xsave` and `fam_len(host)` more `u32`s: the
    // `KVM_CAP_XSAVE2` size the kernel copies.
    unsafe { vcpu.get_xsave2(&mut x) }.map_err(|e| kvm_err("KVM_GET_XSAVE2", e))?;
    out.region
        .copy_from_slice(x.as_fam_struct_ref().xsave.region.as_bytes());
    let bytes = x.as_slice().as_bytes().to_vec();
    out.extended = Some(XsaveExtended {
        len: bytes.len() as u32,
        bytes,
    });
    Ok(out)
}

pub(super) fn restore(host: &Host, vcpu: &VcpuFd, state: &Xsave) -> Result<()> {
    let extra = state.extended.as_ref().map_or(0, |e| e.bytes.len());
    let host_extra = fam_len(host) * 4;
    if extra > host_extra {
        return Err(kvm_err(
            "KVM_SET_XSAVE",
            format!("the state has {extra} bytes beyond 4 KiB, this host {host_extra}"),
        ));
    }
    if host_extra == 0 {
        let mut x = kvm_xsave::default();
        x.region.as_mut_bytes().copy_from_slice(&state.region);
        // SAFETY: the host's XSAVE size is 4096 bytes (`host_extra == 0`), exactly the
        // size of `kvm_xsave` without its flexible array.
        return unsafe { vcpu.set_xsave(&x) }.map_err(|e| kvm_err("KVM_SET_XSAVE", e));
    }
    let mut x = KvmXsave::new(fam_len(host)).map_err(|e| kvm_err("XSAVE buffer", e))?;
    // SAFETY: only the region's bytes are written through this view.
    unsafe { x.as_mut_fam_struct() }
        .xsave
        .region
        .as_mut_bytes()
        .copy_from_slice(&state.region);
    if let Some(e) = &state.extended {
        x.as_mut_slice().as_mut_bytes()[..e.bytes.len()].copy_from_slice(&e.bytes);
    }
    // SAFETY: `x` is sized to the host's `KVM_CAP_XSAVE2` size.
    unsafe { vcpu.set_xsave2(&x) }.map_err(|e| kvm_err("KVM_SET_XSAVE2", e))
}
