//! A vmdesc description (JSON) with a body: the description parses or is refused,
//! and a body it decodes encodes back to the same bytes.
#![no_main]
use libfuzzer_sys::fuzz_target;
use vmstate_runtime::dump::{decode_body, encode_legacy, Desc};
use vmstate_runtime::io::Writer;

fuzz_target!(|data: &[u8]| {
    // The description, a NUL, the body.
    let Some(nul) = data.iter().position(|&b| b == 0) else {
        return;
    };
    let Ok(json) = serde_json::from_slice::<serde_json::Value>(&data[..nul]) else {
        return;
    };
    let Ok(desc) = Desc::parse(&json, 0) else {
        return;
    };
    let body = &data[nul + 1..];
    if let Ok(v) = decode_body(&desc, body, 0) {
        let mut w = Writer::new(Vec::new());
        encode_legacy(&desc, &v, &mut w).expect("a decoded body encodes");
        assert!(w.into_inner() == body, "the body re-encodes differently");
    }
});
