//! One `VMSTATE_*` use as a typed field: the macros whose wire form follows from
//! their arguments alone. The others (a test function, a custom `VMStateInfo`, a
//! count the destination sets) are reported for a hand-written mirror.

use crate::c_text::{call, Constants};

/// A field's Rust type.
#[derive(Clone, Debug, PartialEq)]
pub enum Ty {
    /// `u8`..`u64`, `i8`..`i64`, `bool`.
    Prim(&'static str),
    /// A QEMU timer (its expiry time).
    Timer,
    /// The struct of another description, by C variable.
    Vmsd(String),
    /// A Rust type by name (a function's MSI-X state, `MsixN`).
    Named(String),
    /// `[T; N]`.
    Array(Box<Ty>, usize),
    /// Padding of N bytes.
    Unused(usize),
    /// A variable array (`VMSTATE_VARRAY_*`) of `of`, counted by C field `count`:
    /// until the generator resolves it to the array the destination allocates.
    Counted {
        /// The element type.
        of: Box<Ty>,
        /// The C name of the count.
        count: String,
    },
}

/// A field of a description.
#[derive(Clone, Debug)]
pub struct Field {
    /// The name QEMU gives it (`stringify` of the C path).
    pub name: String,
    /// The type.
    pub ty: Ty,
    /// The first version that has it (0: every version).
    pub version: u32,
    /// `_EQUAL`: the destination's value must be the stream's.
    pub equal: bool,
    /// The destination's value of an `_EQUAL` field.
    pub destination: Option<String>,
    /// A `_TEST` field's condition on the version `v`, as Rust.
    pub exists: Option<String>,
    /// A `uint8` array described element by element, not as a buffer.
    pub as_array: bool,
    /// The macro, for the doc comment.
    pub macro_name: String,
}

fn prim(base: &str) -> Option<Ty> {
    Some(match base {
        "UINT8" | "U8" => Ty::Prim("u8"),
        "UINT16" | "U16" => Ty::Prim("u16"),
        "UINT32" | "U32" => Ty::Prim("u32"),
        "UINT64" | "U64" | "UINTTL" => Ty::Prim("u64"),
        "INT8" => Ty::Prim("i8"),
        "INT16" => Ty::Prim("i16"),
        "INT32" => Ty::Prim("i32"),
        "INT64" => Ty::Prim("i64"),
        "BOOL" => Ty::Prim("bool"),
        "TIMER" | "TIMER_PTR" => Ty::Timer,
        _ => return None,
    })
}

/// The field one `VMSTATE_*` use declares, `Ok(None)` for the end of the list, or
/// why it needs a hand-written mirror. `dump` is what `-dump-vmstate` says of it:
/// `size` (a `VMSTATE_BUFFER`'s length is the C field's `sizeof`) and `num` (an
/// array's length, where C gives it as `ARRAY_SIZE` of a member).
/// reports for it (a `VMSTATE_BUFFER`'s length is the C field's `sizeof`).
pub fn parse(
    text: &str,
    consts: &Constants,
    dump: &serde_json::Value,
) -> Result<Option<Field>, String> {
    let (m, a) = call(text).ok_or_else(|| format!("`{}` is not a VMSTATE_ macro", short(text)))?;
    let base = m
        .strip_prefix("VMSTATE_")
        .ok_or_else(|| format!("`{m}` is not a VMSTATE_ macro"))?;
    let dump_size = dump["size"].as_u64();
    let num = |i: usize| -> Result<usize, String> {
        let e = a
            .get(i)
            .ok_or_else(|| format!("{m}: argument {i} missing"))?;
        consts
            .eval(e)
            .and_then(|v| usize::try_from(v).ok())
            .ok_or_else(|| format!("{m}: cannot evaluate `{e}`"))
    };
    let arg = |i: usize| {
        a.get(i)
            .cloned()
            .ok_or_else(|| format!("{m}: argument {i} missing"))
    };
    let vmsd = |i: usize| arg(i).map(|c| Ty::Vmsd(c.trim_start_matches('&').to_owned()));
    let u8s = |n| Ty::Array(Box::new(Ty::Prim("u8")), n);
    let mut f = Field {
        name: String::new(),
        ty: Ty::Prim("u8"),
        version: 0,
        equal: false,
        destination: None,
        exists: None,
        as_array: false,
        macro_name: m.clone(),
    };
    let test = |i: usize| -> Result<String, String> {
        let t = arg(i)?;
        consts
            .version_test(&t)
            .map(str::to_owned)
            .ok_or_else(|| format!("{m}: its test {t} reads the device's state"))
    };
    let (name, ty, version) = match base {
        "END_OF_LIST" => return Ok(None),
        "UNUSED" => ("unused".into(), Ty::Unused(num(0)?), 0),
        "UNUSED_V" => ("unused".into(), Ty::Unused(num(1)?), num(0)?),
        "UNUSED_TEST" => {
            f.exists = Some(test(0)?);
            ("unused".into(), Ty::Unused(num(1)?), 0)
        }
        "STRUCT_TEST" => {
            f.exists = Some(test(2)?);
            (arg(0)?, vmsd(4)?, num(3)?)
        }
        "BUFFER_TEST" => {
            f.exists = Some(test(2)?);
            let n = dump_size.ok_or_else(|| format!("{m}: size unknown"))?;
            (arg(0)?, u8s(n as usize), 0)
        }
        "PCI_DEVICE" => (arg(0)?, Ty::Vmsd("vmstate_pci_device".into()), 0),
        "USB_DEVICE" => (arg(0)?, Ty::Vmsd("vmstate_usb_device".into()), 0),
        "MACADDR" => (arg(0)?, u8s(6), 0),
        "BUFFER" => {
            let n = dump_size.ok_or_else(|| format!("{m}: size unknown"))?;
            (arg(0)?, u8s(n as usize), 0)
        }
        "STATIC_BUFFER" => {
            if arg(3)? != "NULL" {
                f.exists = Some(test(3)?);
            }
            let n = dump_size.ok_or_else(|| format!("{m}: size unknown"))?;
            (arg(0)?, u8s(n as usize), num(2)?)
        }
        "PARTIAL_BUFFER" => (arg(0)?, u8s(num(2)?), 0),
        "BUFFER_UNSAFE" => {
            // `sizeof(RAMFBCfg)`: the dump has the size the C compiler gave it.
            let n = num(3).or_else(|e| dump_size.map(|n| n as usize).ok_or(e))?;
            (arg(0)?, u8s(n), num(2)?)
        }
        "STRUCT" => (arg(0)?, vmsd(3)?, num(2)?),
        "STRUCT_POINTER" => (arg(0)?, vmsd(2)?, 0),
        "STRUCT_POINTER_V" => (arg(0)?, vmsd(3)?, num(2)?),
        "STRUCT_ARRAY" => (arg(0)?, Ty::Array(Box::new(vmsd(4)?), num(2)?), num(3)?),
        "STRUCT_2DARRAY" => {
            let inner = Ty::Array(Box::new(vmsd(5)?), num(3)?);
            (arg(0)?, Ty::Array(Box::new(inner), num(2)?), num(4)?)
        }
        // A buffer whose length is a field of the device (`writeblock_size`).
        "VBUFFER_UINT32" => {
            if arg(3)? != "NULL" {
                f.exists = Some(test(3)?);
            }
            let v = Ty::Counted {
                of: Box::new(Ty::Prim("u8")),
                count: arg(4)?,
            };
            (arg(0)?, v, num(2)?)
        }
        // A pointer to `_field_num` scalars of `_type` (`vmstate_info_uint64`).
        "VARRAY_INT32" | "VARRAY_UINT32" | "VARRAY_UINT16" => {
            let t = c_scalar(&arg(5)?).ok_or_else(|| format!("{m}: element type `{}`", a[5]))?;
            let v = Ty::Counted {
                of: Box::new(t),
                count: arg(2)?,
            };
            (arg(0)?, v, num(3)?)
        }
        "TIMER_PTR_ARRAY" | "TIMER_ARRAY" => (arg(0)?, Ty::Array(Box::new(Ty::Timer), num(2)?), 0),
        "TIMER_V" | "TIMER_PTR_V" => (arg(0)?, Ty::Timer, num(2)?),
        _ if prim_shape(base).is_none() => {
            // A device's own macro (`VMSTATE_HID_KEYBOARD_DEVICE`): its expansion.
            let expanded = consts
                .expand(&m, &a)
                .ok_or_else(|| format!("{m} needs a hand-written field"))?;
            return match expanded.trim_start().starts_with('{') {
                true => struct_initializer(&expanded, &m, consts).map(Some),
                false => parse(&expanded, consts, dump).map(|f| {
                    f.map(|f| Field {
                        macro_name: m.clone(),
                        ..f
                    })
                }),
            };
        }
        _ => {
            let (b, shape) = prim_shape(base).expect("checked above");
            let t = prim(b).expect("found above");
            f.as_array = b == "UINT8" && shape.contains("ARRAY");
            // `ARRAY_SIZE(((S *)NULL)->member)`: the dump has the count.
            let count =
                |i: usize| num(i).or_else(|e| dump["num"].as_u64().map(|n| n as usize).ok_or(e));
            match shape {
                // QEMU sends and describes it as one array of n1 * n2 elements.
                "_2DARRAY" => (arg(0)?, Ty::Array(Box::new(t), num(2)? * num(3)?), 0),
                "_ARRAY_V" => (arg(0)?, Ty::Array(Box::new(t), count(2)?), num(3)?),
                "_ARRAY" => (arg(0)?, Ty::Array(Box::new(t), count(2)?), 0),
                "_EQUAL_V" => {
                    f.equal = true;
                    (arg(0)?, t, num(2)?)
                }
                "_EQUAL" => {
                    f.equal = true;
                    (arg(0)?, t, 0)
                }
                "_V" => (arg(0)?, t, num(2)?),
                "_TEST" => {
                    f.exists = Some(test(2)?);
                    (arg(0)?, t, 0)
                }
                _ => (arg(0)?, t, 0),
            }
        }
    };
    f.name = name;
    f.ty = ty;
    f.version = version as u32;
    Ok(Some(f))
}

/// The field type of a C scalar type (`uint64_t`).
fn c_scalar(c: &str) -> Option<Ty> {
    let base = c.trim().trim_end_matches("_t").to_ascii_uppercase();
    prim(&base).filter(|t| matches!(t, Ty::Prim(_)))
}

/// A scalar macro's type prefix and shape suffix (`UINT32_ARRAY_V` -> `UINT32`,
/// `_ARRAY_V`).
fn prim_shape(base: &str) -> Option<(&str, &'static str)> {
    [
        "_2DARRAY", "_ARRAY_V", "_ARRAY", "_EQUAL_V", "_EQUAL", "_V", "",
    ]
    .into_iter()
    .find_map(|s| {
        base.strip_suffix(s)
            .filter(|b| prim(b).is_some())
            .map(|b| (b, s))
    })
}

/// A macro that expands to a struct field's initialiser
/// (`{ .name = (stringify(_field)), .vmsd = &vmstate_x, .flags = VMS_STRUCT, ... }`).
fn struct_initializer(text: &str, m: &str, consts: &Constants) -> Result<Field, String> {
    let body = text.trim().trim_start_matches('{').trim_end_matches('}');
    let mut name = None;
    let mut vmsd = None;
    let mut version = 0;
    let mut plain_struct = false;
    let mut exists = None;
    for item in crate::c_text::split_top(body) {
        let Some((key, value)) = item.strip_prefix('.').and_then(|i| i.split_once('=')) else {
            continue;
        };
        let value = value.trim();
        match key.trim() {
            "name" => {
                let v = value.trim_start_matches('(').trim_end_matches(')');
                name = v
                    .strip_prefix("stringify(")
                    .map(|f| f.trim_end_matches(')').trim().to_owned());
            }
            "vmsd" => vmsd = Some(value.trim_start_matches('&').trim().to_owned()),
            "flags" => plain_struct = value == "VMS_STRUCT",
            "version_id" => {
                version = consts
                    .eval(value)
                    .and_then(|v| u32::try_from(v).ok())
                    .ok_or_else(|| format!("{m}: version `{value}`"))?
            }
            "field_exists" => {
                let test = value.trim_start_matches('(').trim_end_matches(')').trim();
                if test != "NULL" {
                    exists = Some(
                        consts
                            .version_test(test)
                            .ok_or_else(|| {
                                format!("{m}: its test {test} reads the device's state")
                            })?
                            .to_owned(),
                    );
                }
            }
            "info" | "num" | "num_offset" => return Err(format!("{m} needs a hand-written field")),
            _ => {}
        }
    }
    match (name, vmsd, plain_struct) {
        (Some(name), Some(vmsd), true) => Ok(Field {
            name,
            ty: Ty::Vmsd(vmsd),
            version,
            equal: false,
            destination: None,
            exists,
            as_array: false,
            macro_name: m.to_owned(),
        }),
        _ => Err(format!("{m} needs a hand-written field")),
    }
}

fn short(text: &str) -> String {
    text.chars().take(60).collect::<String>().replace('\n', " ")
}
