//! A device behind a trait object, so that one registry holds many types.

use crate::error::Result;
use crate::format::Format;
use crate::io::StreamInput;
use crate::json::JsonWriter;
use crate::{ber, legacy, VMState};
use std::any::Any;

/// A device in a registry: [`VMState`] behind a trait object, so one registry holds
/// many types. Loads are staged: a section decodes into a copy, and the copies
/// replace the devices only when the whole stream has loaded.
pub trait SectionDevice {
    /// The device's description.
    fn desc(&self) -> &'static crate::desc::VMStateDesc;
    /// Appends its encoding at `version`.
    fn save(&self, format: Format, version: u32, out: &mut Vec<u8>) -> Result<()>;
    /// Writes its vmdesc object.
    fn vmdesc(&self, idstr: &str, instance: u32, version: u32, j: &mut JsonWriter);
    /// Decodes a legacy body from `r` into a copy, consuming exactly the body.
    fn stage_legacy(&self, r: &mut StreamInput<'_>, version: u32) -> Result<Box<dyn Any>>;
    /// Decodes a BER value (the whole of `bytes`, found at `base`) into a copy.
    fn stage_ber(&self, bytes: &[u8], base: u64, version: u32) -> Result<Box<dyn Any>>;
    /// Replaces the device by a staged copy.
    fn commit(&mut self, staged: Box<dyn Any>);
    /// Whether `value` is of the device's type.
    fn is_a(&self, value: &dyn Any) -> bool;
    /// The device as `Any`, to reach its own type behind the trait object.
    fn as_any_mut(&mut self) -> &mut dyn Any;
    /// Whether an unplug of the device is pending ([`VMState::unplug_pending`]).
    fn unplug_pending(&self) -> bool;
    /// What a staged copy of the device says its source did not send of its RAM
    /// block ([`VMState::unplugged_ram`]).
    fn unplugged_ram(&self, staged: &dyn Any) -> Option<crate::unplugged::UnpluggedRam>;
}

impl<T: VMState + Clone + 'static> SectionDevice for T {
    fn desc(&self) -> &'static crate::desc::VMStateDesc {
        T::DESC
    }

    fn save(&self, format: Format, version: u32, out: &mut Vec<u8>) -> Result<()> {
        match format {
            Format::Legacy => legacy::save(self, out, version).map(drop),
            Format::Ber => ber::save(self, out, version).map(drop),
        }
    }

    fn vmdesc(&self, idstr: &str, instance: u32, version: u32, j: &mut JsonWriter) {
        j.begin_object(None);
        j.string("name", idstr);
        j.int("instance_id", instance.into());
        self.vmdesc_at(version, j);
        j.end_object();
    }

    fn stage_legacy(&self, r: &mut StreamInput<'_>, version: u32) -> Result<Box<dyn Any>> {
        let mut copy = self.clone();
        legacy::load_input(&mut copy, r, version)?;
        Ok(Box::new(copy))
    }

    fn stage_ber(&self, bytes: &[u8], base: u64, version: u32) -> Result<Box<dyn Any>> {
        let mut copy = self.clone();
        ber::load_exact(&mut copy, bytes, base, version)?;
        Ok(Box::new(copy))
    }

    fn commit(&mut self, staged: Box<dyn Any>) {
        if let Ok(v) = staged.downcast::<T>() {
            *self = *v;
        }
    }

    fn is_a(&self, value: &dyn Any) -> bool {
        value.is::<T>()
    }

    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }

    fn unplug_pending(&self) -> bool {
        VMState::unplug_pending(self)
    }

    fn unplugged_ram(&self, staged: &dyn Any) -> Option<crate::unplugged::UnpluggedRam> {
        staged.downcast_ref::<T>().and_then(VMState::unplugged_ram)
    }
}
