//! The VMM-style devices of `vmstate_examples::vmm`: each round-trips in both
//! formats; a save for release 1 or 2 is what that release's build (declared
//! below as it was) loads, nested queues included; and a registry's stream of
//! the three dumps with the generic decoder and converts both ways.

use std::num::Wrapping;
use vmstate_examples::vmm::{sample, Serial, VirtioBlk, VmmConfig};
use vmstate_runtime::stream::Registry;
use vmstate_runtime::{ber, dump, legacy, Format, VMState};

/// The devices as release 1 declared them.
mod release1 {
    use vmstate_runtime::VMState;

    #[derive(VMState, Clone, Debug, Default, PartialEq)]
    #[vmstate(name = "serial", version = 1)]
    pub struct Serial {
        pub baud_divisor_low: u8,
        pub baud_divisor_high: u8,
        pub interrupt_enable: u8,
        pub interrupt_identification: u8,
        pub line_control: u8,
        pub line_status: u8,
        pub modem_control: u8,
        pub modem_status: u8,
        pub scratch: u8,
    }

    #[derive(VMState, Clone, Debug, Default, PartialEq)]
    #[vmstate(name = "virtq", version = 1)]
    pub struct QueueState {
        pub max_size: u16,
        pub size: u16,
        pub ready: bool,
        pub desc_table: u64,
        pub avail_ring: u64,
        pub used_ring: u64,
        pub next_avail: u16,
        pub next_used: u16,
    }

    #[derive(VMState, Clone, Debug, Default, PartialEq)]
    #[vmstate(name = "virtio-blk", version = 1)]
    pub struct VirtioBlk {
        pub avail_features: u64,
        pub acked_features: u64,
        pub status: u8,
        pub config_generation: u8,
        pub queues: Vec<QueueState>,
    }
}

/// Release 2: the input buffer, `event_idx`, the write-cache subsection.
mod release2 {
    use vmstate_runtime::VMState;

    #[derive(VMState, Clone, Debug, Default, PartialEq)]
    #[vmstate(name = "virtq", version = 2)]
    pub struct QueueState {
        pub max_size: u16,
        pub size: u16,
        pub ready: bool,
        pub desc_table: u64,
        pub avail_ring: u64,
        pub used_ring: u64,
        pub next_avail: u16,
        pub next_used: u16,
        pub event_idx: bool,
    }

    #[derive(VMState, Clone, Debug, Default, PartialEq)]
    #[vmstate(name = "virtio-blk/write-cache", version = 1)]
    pub struct WriteCache {
        pub writeback: bool,
    }

    #[derive(VMState, Clone, Debug, Default, PartialEq)]
    #[vmstate(name = "virtio-blk", version = 2)]
    pub struct VirtioBlk {
        pub avail_features: u64,
        pub acked_features: u64,
        pub status: u8,
        pub config_generation: u8,
        pub queues: Vec<QueueState>,
        #[vmstate(subsection)]
        pub write_cache: Option<WriteCache>,
    }
}

fn old_queue(q: &vmstate_examples::vmm::QueueState) -> release1::QueueState {
    release1::QueueState {
        max_size: q.max_size,
        size: q.size,
        ready: q.ready,
        desc_table: q.desc_table,
        avail_ring: q.avail_ring,
        used_ring: q.used_ring,
        next_avail: q.next_avail.0,
        next_used: q.next_used.0,
    }
}

fn roundtrip<T: VMState + Clone + Default + PartialEq + std::fmt::Debug>(dev: &T) {
    let v = T::DESC.version;
    let back: T = legacy::from_bytes(&legacy::to_bytes(dev).unwrap(), v).unwrap();
    assert_eq!(&back, dev);
    let back: T = ber::from_bytes(&ber::to_bytes(dev).unwrap(), v).unwrap();
    assert_eq!(&back, dev);
}

#[test]
fn each_device_round_trips_in_both_formats() {
    let (serial, blk, mut config) = sample();
    roundtrip(&serial);
    roundtrip(&blk);
    // The skipped host handle is not migrated: a load keeps the destination's.
    let bytes = legacy::to_bytes(&config).unwrap();
    let mut dst = VmmConfig {
        host_fd: Some(3),
        ..VmmConfig::default()
    };
    legacy::load_into(&mut dst, &bytes, 1).unwrap();
    config.host_fd = Some(3);
    assert_eq!(dst, config);
    // From a default destination, it stays at its default.
    config.host_fd = None;
    roundtrip(&config);
}

#[test]
fn a_save_for_an_older_release_is_what_that_release_loads() {
    let (serial, blk, _) = sample();
    // Release 1: no input buffer, queues at version 1, no subsection.
    let old: release1::Serial =
        legacy::from_bytes(&legacy::to_bytes_at(&serial, 1).unwrap(), 1).unwrap();
    assert_eq!((old.baud_divisor_low, old.scratch), (12, 0x5a));
    let old: release1::Serial = ber::from_bytes(&ber::to_bytes_at(&serial, 1).unwrap(), 1).unwrap();
    assert_eq!((old.baud_divisor_low, old.scratch), (12, 0x5a));
    let old_queues: Vec<_> = blk.queues.iter().map(old_queue).collect();
    let old: release1::VirtioBlk =
        legacy::from_bytes(&legacy::to_bytes_at(&blk, 1).unwrap(), 1).unwrap();
    assert_eq!(old.queues, old_queues);
    let old: release1::VirtioBlk = ber::from_bytes(&ber::to_bytes_at(&blk, 1).unwrap(), 1).unwrap();
    assert_eq!((old.status, old.queues), (blk.status, old_queues));
    // Release 2: queues at version 2, the subsection, no in-flight list.
    let expected = release2::VirtioBlk {
        avail_features: blk.avail_features,
        acked_features: blk.acked_features,
        status: blk.status,
        config_generation: blk.config_generation,
        queues: blk
            .queues
            .iter()
            .map(|q| {
                let o = old_queue(q);
                release2::QueueState {
                    max_size: o.max_size,
                    size: o.size,
                    ready: o.ready,
                    desc_table: o.desc_table,
                    avail_ring: o.avail_ring,
                    used_ring: o.used_ring,
                    next_avail: o.next_avail,
                    next_used: o.next_used,
                    event_idx: q.event_idx,
                }
            })
            .collect(),
        write_cache: Some(release2::WriteCache { writeback: false }),
    };
    let old: release2::VirtioBlk =
        legacy::from_bytes(&legacy::to_bytes_at(&blk, 2).unwrap(), 2).unwrap();
    assert_eq!(old, expected);
    let old: release2::VirtioBlk = ber::from_bytes(&ber::to_bytes_at(&blk, 2).unwrap(), 2).unwrap();
    assert_eq!(old, expected);
    // And this release loads what each older one saved.
    let from1: VirtioBlk = legacy::from_bytes(&legacy::to_bytes_at(&blk, 1).unwrap(), 1).unwrap();
    assert_eq!(from1.queues[0].next_avail, Wrapping(65530));
    assert!(!from1.queues[0].event_idx);
    let from1: Serial = legacy::from_bytes(&legacy::to_bytes_at(&serial, 1).unwrap(), 1).unwrap();
    assert!(from1.in_buffer.is_empty());
}

#[test]
fn a_stream_of_them_dumps_and_converts_both_ways() {
    let (mut serial, mut blk, mut config) = sample();
    let (s0, b0, c0) = (serial.clone(), blk.clone(), config.clone());
    let mut reg = Registry::new("pc-q35-10.0");
    reg.device("serial", 0, &mut serial);
    reg.device("0000:00:03.0/virtio-blk", 0, &mut blk);
    reg.device("vmm-config", 0, &mut config);
    let stream = reg.save(Format::Legacy).unwrap();
    drop(reg);
    let tree = dump::from_bytes(&stream).unwrap();
    let sections = tree["sections"].as_array().unwrap();
    let blk_value = &sections
        .iter()
        .find(|s| s["idstr"] == "0000:00:03.0/virtio-blk")
        .unwrap()["value"];
    // Requests of different lengths, each described as it is.
    assert_eq!(blk_value["inflight"]["elems"][0]["descs"]["len"], 3);
    assert_eq!(blk_value["inflight"]["elems"][1]["descs"]["len"], 2);
    let ber_stream = dump::convert(&stream, Format::Ber).unwrap();
    assert_eq!(dump::convert(&ber_stream, Format::Legacy).unwrap(), stream);
    let (mut s, mut b, mut c) = (
        Serial::default(),
        VirtioBlk::default(),
        VmmConfig::default(),
    );
    let mut reg = Registry::new("pc-q35-10.0");
    reg.device("serial", 0, &mut s);
    reg.device("0000:00:03.0/virtio-blk", 0, &mut b);
    reg.device("vmm-config", 0, &mut c);
    reg.load(&ber_stream).unwrap();
    drop(reg);
    assert_eq!((s, b), (s0, b0));
    assert_eq!(
        c,
        VmmConfig {
            host_fd: None,
            ..c0
        }
    );
}
