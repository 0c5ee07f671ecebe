//! The state that the fixtures hold only empty or only in one form, against bytes
//! laid out here as QEMU's C code writes them: virtio-net with several queue pairs,
//! an overflowing MAC table and RSS (`hw/net/virtio-net.c`); virtio-blk's requests
//! in flight (`virtio_blk_save_device`, `qemu_put_virtqueue_element`); a
//! virtio-serial port holding a request (`virtio_serial_save_device`); a libslirp
//! socket (`slirp_state_save`, libslirp's `src/state.c`); virtio-gpu's resources
//! (`virtio_gpu_save`); vmxnet3's multicast list; virtio-iommu's domains;
//! virtio-mem's bitmap; vhost-user-fs's back-end state; usb-redir's lists; the
//! UEFI variable store's variables and policies; the VMBus's page lists and
//! message queue. Where a
//! fixture has the device, the state is spliced into QEMU's own section.

use vmstate_qemu::*;
use vmstate_runtime::dump;
use vmstate_runtime::framing::UnpluggedRam;
use vmstate_runtime::stream::SectionKind;
use vmstate_runtime::{legacy, ErrorKind, Field, MarkedList, QTailQ, VMState};
use vmstate_test_support::catalog::read_fixture;

/// Bytes as QEMU's `qemu_put_*` helpers write them.
#[derive(Default)]
struct Put(Vec<u8>);

impl Put {
    fn u8(mut self, v: u8) -> Self {
        self.0.push(v);
        self
    }
    fn be16(mut self, v: u16) -> Self {
        self.0.extend(v.to_be_bytes());
        self
    }
    fn be32(mut self, v: u32) -> Self {
        self.0.extend(v.to_be_bytes());
        self
    }
    fn be64(mut self, v: u64) -> Self {
        self.0.extend(v.to_be_bytes());
        self
    }
    fn bytes(mut self, b: &[u8]) -> Self {
        self.0.extend(b);
        self
    }
}

/// The body of the first section named `suffix` in the QEMU 10.0 device fixture.
fn fixture_body(suffix: &str) -> Vec<u8> {
    let bytes = read_fixture("pc-i440fx-10.0-tcg-devices.mig");
    let s = dump::walk_legacy(&bytes).unwrap();
    let sec = s
        .sections
        .iter()
        .find(|x| x.kind == SectionKind::Full && x.ident.idstr.ends_with(suffix))
        .unwrap();
    sec.body.to_vec()
}

/// `VirtQueueElementOld` as `qemu_put_virtqueue_element` copies it out of memory
/// on x86: three little-endian `unsigned int`s, padding, the addresses, then the
/// `iovec`s (base zero, length).
fn element_bytes(index: u32, ins: &[(u64, u64)], outs: &[(u64, u64)]) -> Vec<u8> {
    let mut b = Vec::new();
    b.extend(index.to_le_bytes());
    b.extend((outs.len() as u32).to_le_bytes());
    b.extend((ins.len() as u32).to_le_bytes());
    b.extend([0; 4]);
    for bufs in [ins, outs] {
        for i in 0..VIRTQUEUE_MAX_SIZE {
            b.extend(bufs.get(i).map_or(0, |x| x.0).to_le_bytes());
        }
    }
    for bufs in [ins, outs] {
        for i in 0..VIRTQUEUE_MAX_SIZE {
            b.extend([0; 8]);
            b.extend(bufs.get(i).map_or(0, |x| x.1).to_le_bytes());
        }
    }
    b
}

fn element(index: u32, ins: &[(u64, u64)], outs: &[(u64, u64)]) -> VirtQueueElement {
    let mut e = VirtQueueElement {
        index: index.into(),
        out_num: (outs.len() as u32).into(),
        in_num: (ins.len() as u32).into(),
        ..Default::default()
    };
    for (i, &(addr, len)) in ins.iter().enumerate() {
        e.in_addr[i] = addr.into();
        e.in_sg[i].iov_len = len.into();
    }
    for (i, &(addr, len)) in outs.iter().enumerate() {
        e.out_addr[i] = addr.into();
        e.out_sg[i].iov_len = len.into();
    }
    e
}

#[test]
fn virtqueue_element_is_the_c_struct_in_host_order() {
    let ins = [(0x1000, 512), (0x2000, 1)];
    let outs = [(0x3000, 16)];
    let e = element(7, &ins, &outs);
    let bytes = legacy::to_bytes(&e).unwrap();
    assert_eq!(bytes.len(), 49168, "sizeof(VirtQueueElementOld) on x86-64");
    assert_eq!(bytes, element_bytes(7, &ins, &outs));
    let back: VirtQueueElement = legacy::from_bytes(&bytes, 1).unwrap();
    assert_eq!(back, e);
    assert_eq!(back.in_addr[1].get(), 0x2000);
    assert_eq!(back.out_sg[0].iov_len.get(), 16);
}

/// Two requests spliced into QEMU's virtio-blk section (two vCPUs, so two queues:
/// each request names its queue) where QEMU wrote the empty list's 0.
#[test]
fn virtio_blk_requests_in_flight_are_qemus_list() {
    let qemu = fixture_body("/virtio-blk");
    let mut blk = VirtioBlk::with_queues(2);
    legacy::load_into(&mut blk, &qemu, 2).unwrap();
    let save = &mut blk.virtio.0;
    assert_eq!(save.transport.num_queues, 2);
    assert!(save.mq_requests.0.is_empty());
    let list_at = save.transport.legacy_size();
    assert_eq!(qemu[list_at], 0, "the empty request list");

    let reqs = [
        (1, element(3, &[(0x8000, 4096)], &[(0x9000, 16)])),
        (0, element(9, &[], &[(0xa000, 16), (0xb000, 512)])),
    ];
    save.mq_requests = QTailQ(
        reqs.iter()
            .map(|(q, e)| VirtioBlkMqRequest {
                vq_idx: *q,
                elem: e.clone(),
            })
            .collect(),
    );
    let mut want = qemu[..list_at].to_vec();
    want.extend(Put::default().u8(1).be32(1).0);
    want.extend(element_bytes(3, &[(0x8000, 4096)], &[(0x9000, 16)]));
    want.extend(Put::default().u8(1).be32(0).0);
    want.extend(element_bytes(9, &[], &[(0xa000, 16), (0xb000, 512)]));
    want.push(0);
    want.extend(&qemu[list_at + 1..]);
    assert_eq!(legacy::to_bytes_at(&blk, 2).unwrap(), want);

    let mut back = VirtioBlk::with_queues(2);
    legacy::load_into(&mut back, &want, 2).unwrap();
    assert_eq!(back, blk);
    // A request on a queue the device does not have is refused, as QEMU does.
    let mut bad = want.clone();
    bad[list_at + 1..list_at + 5].copy_from_slice(&2u32.to_be_bytes());
    let e = legacy::load_into(&mut VirtioBlk::with_queues(2), &bad, 2).unwrap_err();
    assert!(matches!(e.kind(), ErrorKind::Validation(_)), "{e}");
    assert!(e.path().ends_with("mq_requests"), "{}", e.path());
    // With one queue the list has no queue indexes.
    let mut one = VirtioBlkSave::with_queues(1);
    one.requests = QTailQ(vec![VirtioBlkRequest {
        elem: reqs[0].1.clone(),
    }]);
    let bytes = legacy::to_bytes(&one).unwrap();
    let at = one.transport.legacy_size();
    assert_eq!(bytes[at], 1);
    assert_eq!(
        &bytes[at + 1..at + 1 + 49168],
        &element_bytes(3, &[(0x8000, 4096)], &[(0x9000, 16)])[..]
    );
    assert_eq!(bytes[at + 1 + 49168], 0);
}

/// Two ports, the second throttled with a request, in place of QEMU's section's
/// none.
#[test]
fn virtio_serial_ports_are_qemus_items() {
    let qemu = fixture_body("/virtio-console");
    let mut ser = VirtioSerial::default();
    legacy::load_into(&mut ser, &qemu, 3).unwrap();
    let save = &mut ser.virtio.0;
    assert_eq!(save.nr_active_ports, 0);
    let at = save.transport.legacy_size();
    // cols, rows, max_nr_ports (31).
    let head = Put::default().be16(0).be16(0).be32(31);
    assert_eq!(&qemu[at..at + 8], &head.0[..]);

    save.ports_map = vec![0b101];
    save.nr_active_ports = 2;
    save.ports = vec![
        VirtioSerialPort {
            id: 0,
            guest_connected: 1,
            host_connected: 1,
            ..Default::default()
        },
        VirtioSerialPort {
            id: 2,
            guest_connected: 1,
            host_connected: 0,
            elem_popped: 1,
            iov_idx: 1,
            iov_offset: 300,
            elem: Box::new(element(4, &[], &[(0x7000, 100), (0x7100, 400)])),
        },
    ];
    let mut want = qemu[..at + 8].to_vec();
    want.extend(Put::default().be32(0b101).be32(2).0);
    want.extend(Put::default().be32(0).u8(1).u8(1).be32(0).0);
    want.extend(
        Put::default()
            .be32(2)
            .u8(1)
            .u8(0)
            .be32(1)
            .be32(1)
            .be64(300)
            .0,
    );
    want.extend(element_bytes(4, &[], &[(0x7000, 100), (0x7100, 400)]));
    // After the ports map (one word) and the count QEMU wrote: the subsections.
    want.extend(&qemu[at + 8 + 8..]);
    assert_eq!(legacy::to_bytes_at(&ser, 3).unwrap(), want);
    let mut back = VirtioSerial::default();
    legacy::load_into(&mut back, &want, 3).unwrap();
    assert_eq!(back, ser);
}

/// The device part with three queue pairs (two in use), an overflowing MAC table,
/// guest-controlled offloads and RSS.
#[test]
fn virtio_net_queue_pairs_tables_and_rss() {
    let mut dev = VirtioNetDevice {
        guest_features: 1 << 2,
        mac: [0x52, 0x54, 0, 1, 2, 3],
        max_queue_pairs: 3,
        curr_queue_pairs: 2,
        mac_table_in_use: 65,
        mac_table_dropped: (0..65 * 6).map(|i| i as u8).collect(),
        curr_guest_offloads: 0x1234,
        ..Default::default()
    };
    dev.vqs.tx_waiting = 1;
    dev.tx_waiting.vqs_1 = vec![VirtioNetQueueTxWaiting { tx_waiting: 5 }];
    // The count a save computes and a load sets (not sent).
    dev.tx_waiting.curr_queue_pairs_1 = 1;
    dev.vlans[0] = 0x80;
    let mut rss = VirtioNetRss {
        enabled: true,
        hash_types: 0x3f,
        indirections_len: 4,
        default_queue: 1,
        indirections_table: vec![0, 1, 0, 1],
        ..Default::default()
    };
    rss.key[0] = 0x6d;
    dev.rss = Some(Box::new(rss));

    let mut vlans = [0u8; 512];
    vlans[0] = 0x80;
    let mut rss_key = [0u8; 40];
    rss_key[0] = 0x6d;
    let want = Put::default()
        .bytes(&[0x52, 0x54, 0, 1, 2, 3])
        .be32(1) // vqs[0].tx_waiting
        .be32(0)
        .be16(0)
        .u8(1) // promisc
        .u8(0)
        .be32(65)
        .bytes(&(0..65 * 6).map(|i| i as u8).collect::<Vec<_>>()) // not kept by QEMU
        .bytes(&vlans)
        .be32(0) // has_vnet_hdr
        .bytes(&[0; 6])
        .u8(0) // has_ufo
        .be16(3)
        .be16(2)
        .be32(5) // vqs[1].tx_waiting
        .be64(0x1234)
        .u8(5) // QEMU_VM_SUBSECTION
        .u8(21)
        .bytes(b"virtio-net-device/rss")
        .be32(1)
        .u8(1)
        .u8(0)
        .u8(0)
        .be32(0x3f)
        .be16(4)
        .be16(1)
        .bytes(&rss_key)
        .be16(0)
        .be16(1)
        .be16(0)
        .be16(1);
    assert_eq!(legacy::to_bytes(&dev).unwrap(), want.0);

    // A destination with three queue pairs loads it.
    let mut back = VirtioNetDevice {
        guest_features: 1 << 2,
        max_queue_pairs: 3,
        ..Default::default()
    };
    legacy::load_into(&mut back, &want.0, 11).unwrap();
    assert_eq!(back, dev);
    // One with four refuses it at the count (QEMU's VMSTATE_UINT16_EQUAL)...
    let mut four = VirtioNetDevice {
        guest_features: 1 << 2,
        max_queue_pairs: 4,
        ..Default::default()
    };
    let e = legacy::load_into(&mut four, &want.0, 11).unwrap_err();
    assert!(matches!(e.kind(), ErrorKind::NotEqual { .. }), "{e}");
    // ...and more pairs in use than the device has fail before the temporary
    // struct is read, where QEMU's pre_load fails.
    let mut bad = want.0.clone();
    let curr_at = 6 + 4 + 4 + 2 + 2 + 4 + 390 + 512 + 4 + 6 + 1 + 2;
    bad[curr_at..curr_at + 2].copy_from_slice(&4u16.to_be_bytes());
    let mut three = back.clone();
    let e = legacy::load_into(&mut three, &bad, 11).unwrap_err();
    assert!(
        matches!(
            e.kind(),
            ErrorKind::Hook {
                hook: "pre_load",
                ..
            }
        ),
        "{e}"
    );
    assert!(e.path().contains("tx_waiting"), "{}", e.path());
    assert_eq!(e.offset(), curr_at as u64 + 2);
}

/// The device part's guest features come from the transport, on save and on load:
/// `curr_guest_offloads` is on the wire exactly when the guest accepted
/// `VIRTIO_NET_F_CTRL_GUEST_OFFLOADS`.
#[test]
fn virtio_net_offloads_follow_the_transports_features() {
    let qemu = fixture_body("/virtio-net");
    let mut net = VirtioNet::default();
    legacy::load_into(&mut net, &qemu, 11).unwrap();
    let save = &net.virtio.0;
    // SeaBIOS drove the device: the legacy driver accepts no offload control.
    assert_eq!(save.transport.guest_features_lo & 1 << 2, 0);
    assert_eq!(save.device.mac, [0x52, 0x54, 0x00, 0x12, 0x34, 0x56]);
    let mut with = net.clone();
    with.virtio.0.transport.guest_features_lo |= 1 << 2;
    with.virtio.0.device.curr_guest_offloads = 0xabcd;
    let bytes = legacy::to_bytes_at(&with, 11).unwrap();
    assert_eq!(bytes.len(), qemu.len() + 8);
    let mut back = VirtioNet::default();
    legacy::load_into(&mut back, &bytes, 11).unwrap();
    assert_eq!(back.virtio.0.device.curr_guest_offloads, 0xabcd);
    assert_eq!(back.virtio.0.device.guest_features, 1 << 2);
}

/// One guest-forward socket before the `slirp` description, after libslirp's 42.
#[test]
fn slirp_sockets_are_libslirps_list() {
    let qemu = fixture_body("slirp");
    assert_eq!(qemu.len(), 1 + 2 + 16 * 8);
    let mut s = Slirp::default();
    legacy::load_into(&mut s, &qemu, 4).unwrap();
    assert!(s.data.0.sockets.0.is_empty());

    let addr = |a: u32, p: u16| SlirpSocketAddr {
        ss_family: SlirpSsFamily {
            portable_family: SS_FAMILY_MIG_IPV4,
        },
        sin_addr: a,
        sin_port: p,
    };
    let sbuf = |data: &[u8]| SlirpSbuf {
        sb_cc: data.len() as u32,
        sb_datalen: 8,
        offsets: SlirpSbufOffsets {
            woff: data.len() as u32,
            roff: 0,
        },
        sb_data: {
            let mut d = data.to_vec();
            d.resize(8, 0);
            d
        },
    };
    let mut tcp = SlirpTcp {
        t_state: 4,
        t_maxseg: 1460,
        snd_una: 100,
        last_ack_sent: 7,
        ..Default::default()
    };
    tcp.t_timer = [1, -1, 0, 3];
    let so = SlirpSocket {
        so_urgc: 0,
        fhost: addr(0x0a00_0264, 4321),
        lhost: addr(0x0a00_020f, 1234),
        so_iptos: 0,
        so_emu: 0,
        so_type: 1,
        so_state: 0x104,
        so_rcv: sbuf(b"abc"),
        so_snd: sbuf(b""),
        so_tcpcb: Box::new(tcp),
    };
    s.data.0.sockets = MarkedList(vec![so]);

    let put_addr = |p: Put, a: u32, port: u16| p.be16(2).be32(a).be16(port);
    let put_sbuf = |p: Put, data: &[u8]| {
        let mut d = data.to_vec();
        d.resize(8, 0);
        p.be32(data.len() as u32)
            .be32(8)
            .be32(data.len() as u32)
            .be32(0)
            .bytes(&d)
    };
    let mut p = Put::default().u8(42).be32(0);
    p = put_addr(p, 0x0a00_0264, 4321);
    p = put_addr(p, 0x0a00_020f, 1234);
    p = p.u8(0).u8(0).u8(1).be32(0x104);
    p = put_sbuf(p, b"abc");
    p = put_sbuf(p, b"");
    // slirp-tcp, in vmstate_slirp_tcp's order.
    p = p.be16(4).be16(1).be16(0xffff).be16(0).be16(3); // t_state, t_timer
    p = p.be16(0).be16(0).be16(0).be16(1460).u8(0).be16(0); // .. t_flags
    p = p.be32(100); // snd_una
    for _ in 0..14 {
        p = p.be32(0); // snd_nxt .. snd_ssthresh
    }
    p = p.be16(0).be16(0).be32(0).be16(0).be16(0).be16(0).be32(0); // t_idle .. max_sndwnd
    p = p.u8(0).u8(0).be16(0).u8(0).u8(0).u8(0).u8(0); // t_oobflags .. requested_s_scale
    p = p.be32(0).be32(0).be32(7); // ts_recent, ts_recent_age, last_ack_sent
    let mut want = p.0;
    want.extend(&qemu); // the list's end, ip_id, the leases
    assert_eq!(legacy::to_bytes(&s).unwrap(), want);
    let mut back = Slirp::default();
    legacy::load_into(&mut back, &want, 4).unwrap();
    assert_eq!(back, s);

    // Another marker than libslirp's is refused where it stands.
    want[0] = 1;
    let e = legacy::load_into(&mut Slirp::default(), &want, 4).unwrap_err();
    assert!(matches!(e.kind(), ErrorKind::NotEqual { .. }), "{e}");
    assert_eq!(e.offset(), 0);
}

/// The vmdesc of the old-style section is QEMU's, with its size.
#[test]
fn slirp_is_described_as_qemu_describes_old_style_sections() {
    let s = Slirp::default();
    assert_eq!(
        legacy::vmdesc_json(&s, "slirp", 1, 4),
        r#"{"name": "slirp", "instance_id": 1, "size": 131, "fields": [{"name": "data", "size": 131, "type": "buffer"}]}"#
    );
    assert_eq!(s.legacy_size_at(4), 131);
}

/// A PIO transfer in flight: QEMU sends the drive's I/O buffer as an array of
/// `uint8` (`VMSTATE_VARRAY_INT32`), described element-wise in vmdesc, not as one
/// `buffer`, after the request's sector count.
#[test]
fn ide_pio_buffer_is_described_as_qemus_uint8_array() {
    let mut drive = IdeDrive::default();
    let mut pio = IdeDrivePio::default();
    pio.io_buffer[0] = IoByte(0xa5);
    pio.req_nb_sectors = 1;
    drive.pio_state = Some(pio);
    let d = legacy::vmdesc_json(&drive, "ide_drive", 0, 3);
    let entry = format!(
        r#"{{"name": "io_buffer", "array_len": {IDE_IO_BUFFER_LEN}, "type": "uint8", "size": 1}}"#
    );
    assert!(d.contains(&entry), "{d}");
    let bytes = legacy::to_bytes(&drive).unwrap();
    let name = b"ide_drive/pio_state";
    let at = bytes.windows(name.len()).position(|w| w == name).unwrap() + name.len() + 4;
    // req_nb_sectors, then the buffer.
    assert_eq!(&bytes[at..at + 5], &[0, 0, 0, 1, 0xa5]);
    let back: IdeDrive = legacy::from_bytes(&bytes, 3).unwrap();
    assert_eq!(back, drive);
}

/// The generic reader (which knows the section only by its description) reads the
/// typed BER save of a drive with that buffer, and gives the typed legacy bytes,
/// the vmdesc trailer included (QEMU 10.0's, which describes the configuration).
#[test]
fn ide_pio_buffer_converts_like_the_typed_save() {
    use vmstate_runtime::stream::Registry;
    use vmstate_runtime::{dump, Format};
    let mut ide = PciIde::default();
    let mut pio = IdeDrivePio::default();
    pio.io_buffer[1] = IoByte(0x5a);
    ide.bus0_ifs[0].pio_state = Some(pio);
    for machine in ["pc-i440fx-7.2", "pc-i440fx-10.0"] {
        let mut reg = Registry::new(machine);
        reg.device("0000:00:01.1/ide", 0, &mut ide);
        let ber = reg.save(Format::Ber).unwrap();
        let legacy = reg.save(Format::Legacy).unwrap();
        drop(reg);
        assert!(
            dump::convert(&ber, Format::Legacy).unwrap() == legacy,
            "{machine}"
        );
        let tree = dump::from_bytes(&ber).unwrap();
        assert!(
            dump::to_bytes(&tree, Format::Ber).unwrap() == ber,
            "{machine}"
        );
    }
}

/// A vhost-user back-end's state (`virtio-net-device/backend`, opaque to QEMU
/// itself) is not mirrored: a stream that has it fails, naming it.
#[test]
fn virtio_net_backend_state_is_refused_by_name() {
    let dev = VirtioNetDevice::default();
    let mut bytes = legacy::to_bytes(&dev).unwrap();
    let name = b"virtio-net-device/backend";
    bytes.extend(
        Put::default()
            .u8(5)
            .u8(name.len() as u8)
            .bytes(name)
            .be32(0)
            .be32(0)
            .0,
    );
    let e = legacy::load_into(&mut VirtioNetDevice::default(), &bytes, 11).unwrap_err();
    assert!(
        matches!(e.kind(), ErrorKind::UnknownSubsection(n) if n == "virtio-net-device/backend"),
        "{e}"
    );
}

/// `virtio_gpu_save`'s field: each 2D resource after its id (size, format, backing
/// pages, then its pixels, 4 bytes each), a zero id, then the scanouts (one, with
/// the framebuffer fields of 10.0's machine types).
#[test]
fn virtio_gpu_resources_are_qemus_list() {
    let scanout = |p: Put, fb: bool| {
        let p = p
            .be32(7) // resource_id
            .be32(2) // width
            .be32(1) // height
            .be32(0) // x
            .be32(0) // y
            .be32(0)
            .be32(0)
            .be32(0)
            .be32(0)
            .be32(0); // cursor
        match fb {
            true => p.be32(1).be32(4).be32(2).be32(1).be32(8).be32(0),
            false => p,
        }
    };
    let qemu = Put::default()
        .be32(7) // resource id
        .be32(2) // width
        .be32(1) // height
        .be32(1) // VIRTIO_GPU_FORMAT_B8G8R8A8_UNORM
        .be32(1) // iov_cnt
        .be64(0x10_0000)
        .be32(4096)
        .bytes(&[1, 2, 3, 4, 5, 6, 7, 8])
        .be32(0); // end of list
    let qemu = scanout(qemu.be32(1).be32(1), true).0;

    let mut gpu = VirtioGpuSave::default();
    legacy::load_into(&mut gpu, &qemu, 1).unwrap();
    let (id, res) = &gpu.resources.0[0];
    assert_eq!((*id, res.width, res.height, res.format), (7, 2, 1, 1));
    assert_eq!(
        res.iovs,
        [VirtioGpuIov {
            addr: 0x10_0000,
            len: 4096
        }]
    );
    assert_eq!(res.data, [1, 2, 3, 4, 5, 6, 7, 8]);
    assert_eq!(gpu.scanouts.scanout[0].fb_stride, 8);
    assert_eq!(legacy::to_bytes(&gpu).unwrap(), qemu);

    // A 7.2 machine type's scanout has no framebuffer fields.
    let mut old = VirtioGpu::for_machine("pc-q35-7.2").gpu.0;
    let short = scanout(Put::default().be32(0).be32(1).be32(1), false).0;
    legacy::load_into(&mut old, &short, 1).unwrap();
    assert_eq!(legacy::to_bytes(&old).unwrap(), short);

    // QEMU refuses an id twice and a format it has no image for; a save refuses
    // the id 0, which would end the list.
    let twice = [&qemu[..qemu.len() - 4 - 72], &qemu[..qemu.len() - 72][..]].concat();
    let err = legacy::load_into(&mut VirtioGpuSave::default(), &twice, 1).unwrap_err();
    assert!(
        matches!(err.kind(), ErrorKind::Validation(ref w) if w == "key 7 sent twice"),
        "{err}"
    );
    let mut bad = qemu.clone();
    bad[15] = 9;
    let err = legacy::load_into(&mut VirtioGpuSave::default(), &bad, 1).unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::Validation(_)), "{err}");
    gpu.resources.0[0].0 = 0;
    assert!(matches!(
        legacy::to_bytes(&gpu).unwrap_err().kind(),
        ErrorKind::InvalidValue { .. }
    ));
    // Pixels beyond `max_hostmem` are refused before they are allocated.
    let mut huge = qemu.clone();
    huge[4..8].copy_from_slice(&65536u32.to_be_bytes());
    huge[8..12].copy_from_slice(&65536u32.to_be_bytes());
    let err = legacy::load_into(&mut VirtioGpuSave::default(), &huge, 1).unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::Hook { .. }), "{err}");
}

/// vmxnet3's multicast list is as long as its main section says
/// (`mcast_list_buff_size`), which QEMU allocates unchecked; the mirror takes what
/// a guest can set and refuses more before allocating.
#[test]
fn vmxnet3_multicast_list_is_sized_by_its_main_section() {
    let bytes = read_fixture("pc-i440fx-10.0-vmware.mig");
    let s = dump::walk_legacy(&bytes).unwrap();
    let body = s
        .sections
        .iter()
        .find(|x| x.kind == SectionKind::Full && x.ident.idstr.ends_with("/vmxnet3"))
        .unwrap()
        .body;
    let fresh = || {
        let mut m = Vmxnet3::default();
        m.parent_obj.express = true;
        m
    };
    let mut m = fresh();
    legacy::load_into(&mut m, body, 1).unwrap();
    let with_list = |n: u32| {
        let mut x = m.clone();
        x.mcast_list_buff_size = n;
        x.mcast_list = Some(Vmxnet3McastList {
            buff_size: n,
            mcast_list: (0..n as u8).collect(),
        });
        legacy::to_bytes(&x).unwrap()
    };
    let (twelve, eighteen) = (with_list(12), with_list(18));
    let mut back = fresh();
    legacy::load_into(&mut back, &twelve, 1).unwrap();
    assert_eq!(
        back.mcast_list.as_ref().unwrap().mcast_list,
        (0..12).collect::<Vec<u8>>()
    );
    assert_eq!(legacy::to_bytes(&back).unwrap(), twelve);
    // The size field: where the two saves first differ, less its first three bytes.
    let at = twelve
        .iter()
        .zip(&eighteen)
        .position(|(a, b)| a != b)
        .unwrap()
        - 3;
    let mut hostile = twelve.clone();
    hostile[at..at + 4].copy_from_slice(&70_000u32.to_be_bytes());
    let err = legacy::load_into(&mut fresh(), &hostile, 1).unwrap_err();
    assert!(
        matches!(
            err.kind(),
            ErrorKind::LengthTooLarge {
                len: 70_000,
                max: 65_536
            }
        ),
        "{err}"
    );
}

/// virtio-iommu's domains as `put_gtree` writes them: the node count, then each
/// node after a byte 1 (the domain id as a pointer-sized key, the domain with its
/// own tree of mappings and list of endpoints), a byte 0; then `config.bypass`.
#[test]
fn virtio_iommu_domains_are_qemus_trees() {
    let qemu = Put::default()
        .be32(1) // domains
        .u8(1)
        .be64(3) // key: domain 3
        .be32(3) // id
        .be32(1) // mappings
        .u8(1)
        .be64(0x1000)
        .be64(0x1fff) // interval
        .be64(0x5000)
        .be32(3) // mapping: read and write
        .u8(0)
        .u8(1)
        .be32(8) // endpoint 8
        .u8(0)
        .u8(0) // bypass
        .u8(0)
        .u8(1) // config.bypass
        .0;
    let mut d = VirtioIommuDevice::default();
    legacy::load_into(&mut d, &qemu, 2).unwrap();
    let domain = &d.domains.0[&3];
    let interval = VirtioIommuInterval {
        low: 0x1000,
        high: 0x1fff,
    };
    assert_eq!(
        domain.mappings.0[&vmstate_runtime::StructKey(interval)].phys_addr,
        0x5000
    );
    assert_eq!(domain.endpoints.0, [VirtioIommuEndpoint { id: 8 }]);
    assert_eq!(d.bypass, 1);
    assert_eq!(legacy::to_bytes(&d).unwrap(), qemu);
}

/// virtio-mem's bitmap, a bit per block, is sized by the geometry sent before it
/// (`bitmap_size`, the region's size over the block size, is not on the wire):
/// in the device section of a pre-8.0 machine type, in the early section after.
#[test]
fn virtio_mem_bitmap_is_sized_by_the_geometry() {
    let bytes = read_fixture("pc-q35-7.2-virtio-mem.mig");
    let s = dump::walk_legacy(&bytes).unwrap();
    let body = s
        .sections
        .iter()
        .find(|x| x.kind == SectionKind::Full && x.ident.idstr.ends_with("/virtio-mem"))
        .unwrap()
        .body;
    let fresh = || {
        let mut m = VirtioMem::for_machine("pc-q35-7.2");
        m.virtio.0.transport.pci.express = true;
        m
    };
    let mut m = fresh();
    legacy::load_into(&mut m, body, 1).unwrap();
    let device = &m.virtio.0.device;
    // -object memory-backend-ram,size=128M; block-size=2M, requested-size=64M.
    assert_eq!(device.sanity_checks.region_size, 128 << 20);
    assert_eq!(device.sanity_checks.block_size, 2 << 20);
    assert_eq!(device.requested_size, 64 << 20);
    assert_eq!((device.blocks, device.bitmap.as_slice()), (64, &[0u64][..]));
    assert_eq!(legacy::to_bytes(&m).unwrap(), body);

    // A guest that plugged the first 32 MiB, in a 1 GiB region: 512 bits.
    let mut plugged = m.clone();
    let d = &mut plugged.virtio.0.device;
    d.sanity_checks.region_size = 1 << 30;
    d.size = 32 << 20;
    d.blocks = 512;
    d.bitmap = vec![0xffff, 0, 0, 0, 0, 0, 0, 0];
    let bytes = legacy::to_bytes(&plugged).unwrap();
    assert_eq!(bytes.len(), body.len() + 7 * 8);
    let mut back = fresh();
    legacy::load_into(&mut back, &bytes, 1).unwrap();
    assert_eq!(back, plugged);
    // The RAM its source does not send: all but the 16 blocks plugged; in the
    // device section only without early migration.
    let unplugged = UnpluggedRam {
        size: 1 << 30,
        ranges: vec![std::ops::Range {
            start: 32 << 20,
            end: 1 << 30,
        }],
    };
    assert_eq!(plugged.unplugged_ram(), Some(unplugged.clone()));
    assert_eq!(VirtioMem::for_machine("pc-q35-10.0").unplugged_ram(), None);

    // The early section of a later machine type: the same geometry and bitmap.
    let d = &plugged.virtio.0.device;
    let early = VirtioMemDeviceEarly {
        sanity_checks: d.sanity_checks.clone(),
        size: d.size,
        blocks: d.blocks,
        bitmap: d.bitmap.clone(),
    };
    let bytes = legacy::to_bytes(&early).unwrap();
    assert_eq!(bytes.len(), 28 + 8 + 64);
    let mut back = VirtioMemDeviceEarly::default();
    legacy::load_into(&mut back, &bytes, 1).unwrap();
    assert_eq!(back, early);
    assert_eq!(back.unplugged_ram(), Some(unplugged));
    // Blocks 1 and 3 plugged of four: 0, 2 and from 4 on are not.
    let sparse = UnpluggedRam::from_bitmap(8 << 20, 1 << 20, 8, &[0b1010]);
    let ranges = [0..1 << 20, 2 << 20..3 << 20, 4 << 20..8 << 20];
    assert_eq!(sparse.ranges, ranges);

    // A hostile geometry: no blocks to divide by, or more than the bound.
    let mut hostile = bytes.clone();
    hostile[16..24].fill(0);
    let err = legacy::load_into(&mut VirtioMemDeviceEarly::default(), &hostile, 1).unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::Hook { .. }), "{err}");
    assert!(err.to_string().contains("block_size is 0"), "{err}");
    hostile[16..24].copy_from_slice(&1u64.to_be_bytes());
    let err = legacy::load_into(&mut VirtioMemDeviceEarly::default(), &hostile, 1).unwrap_err();
    assert!(
        matches!(
            err.kind(),
            ErrorKind::LengthTooLarge {
                max: 16_777_216,
                ..
            }
        ),
        "{err}"
    );
}

/// vhost-user-fs (QEMU 10.0): after the virtio transport, the back-end's state in
/// the `vhost-user-fs-backend` subsection as `vhost_save_backend_state` writes
/// it, chunks of at most 1 MiB after their lengths, a length 0 to end.
#[test]
fn vhost_user_fs_back_end_state_is_qemus_chunks() {
    let plain = VhostUserFs::default();
    let transport = legacy::to_bytes(&plain).unwrap();
    let mut fs = plain.clone();
    fs.backend = Some(VhostUserFsBackend {
        back_end: VhostUserFsBackEndState(vmstate_runtime::Chunks(vec![
            b"virtiofsd".to_vec(),
            vec![7; 1 << 20],
        ])),
    });
    let bytes = legacy::to_bytes(&fs).unwrap();
    let sub = Put::default()
        .u8(5)
        .u8(21)
        .bytes(b"vhost-user-fs-backend")
        .be32(0)
        .be32(9)
        .bytes(b"virtiofsd")
        .be32(1 << 20)
        .bytes(&[7; 1 << 20])
        .be32(0);
    // The subsections follow the `virtio` field, before the section's end.
    assert_eq!(bytes.len(), transport.len() + sub.0.len());
    assert!(bytes[..bytes.len() - sub.0.len()] == transport[..]);
    assert!(bytes[bytes.len() - sub.0.len()..] == sub.0[..]);
    let mut back = VhostUserFs::default();
    legacy::load_into(&mut back, &bytes, 0).unwrap();
    assert_eq!(back, fs);
    // A chunk over QEMU's 1 MiB, and an empty one, which would end the list.
    let mut hostile = bytes.clone();
    let at = transport.len() + 2 + 21 + 4 + 4 + 9;
    hostile[at..at + 4].copy_from_slice(&((1u32 << 20) + 1).to_be_bytes());
    let err = legacy::load_into(&mut VhostUserFs::default(), &hostile, 0).unwrap_err();
    assert!(
        matches!(err.kind(), ErrorKind::LengthTooLarge { max: 1_048_576, .. }),
        "{err}"
    );
    let mut empty = fs.clone();
    empty
        .backend
        .as_mut()
        .unwrap()
        .back_end
        .0
         .0
        .push(Vec::new());
    assert!(legacy::to_bytes(&empty).is_err());
}

/// usb-redir with a client connected: the serialised parser after its length,
/// packets buffered on an endpoint after their count (each its length, status
/// and bytes), bulk receiving's subsection, and the ids of requests in flight
/// after theirs, as `hw/usb/redirect.c`'s `put` functions write them. The
/// fixtures' devices have no client: every list empty.
#[test]
fn usb_redir_lists_are_qemus_counted_lists() {
    let bytes = read_fixture("pc-q35-10.0-usb-redir.mig");
    let s = dump::walk_legacy(&bytes).unwrap();
    let body = s
        .sections
        .iter()
        .find(|x| x.kind == SectionKind::Full && x.ident.idstr.ends_with("/usb-redir"))
        .unwrap()
        .body;
    let mut m = UsbRedir::default();
    legacy::load_into(&mut m, body, 1).unwrap();
    assert_eq!(m.parser.0.len, 0);
    let plain = legacy::to_bytes(&m).unwrap();
    assert!(plain == body);

    let mut busy = m.clone();
    busy.parser.0 = UsbRedirParser {
        len: 5,
        data: b"state".to_vec(),
    };
    let ep = &mut busy.endpoint[3];
    ep.bufpq.0 = UsbRedirBufpq {
        bufpq_size: 1,
        packets: vec![UsbRedirBufPacket {
            len: 3,
            status: 0,
            data: vec![1, 2, 3],
        }],
    };
    ep.bulk_receiving.bulk_receiving_started = 1;
    busy.already_in_flight.queue.0 = UsbRedirPacketIds {
        size: 2,
        ids: vec![7, 9],
    };
    let bytes = legacy::to_bytes(&busy).unwrap();
    let parser = Put::default().be32(5).bytes(b"state");
    let packets = Put::default().be32(1).be32(3).be32(0).bytes(&[1, 2, 3]);
    let bulk = Put::default()
        .u8(5)
        .u8(27)
        .bytes(b"usb-redir-ep/bulk-receiving")
        .be32(1)
        .u8(1);
    let ids = Put::default().be32(2).be64(7).be64(9);
    // Each part in its place, and nothing else added.
    for part in [&parser, &packets, &bulk, &ids] {
        assert!(
            bytes.windows(part.0.len()).any(|w| w == part.0),
            "{:?}",
            part.0
        );
    }
    let added = 5 + (packets.0.len() - 4) + bulk.0.len() + (ids.0.len() - 4);
    assert_eq!(bytes.len(), plain.len() + added);
    let mut back = UsbRedir::default();
    legacy::load_into(&mut back, &bytes, 1).unwrap();
    assert_eq!(back, busy);

    // A packet count over the bound is refused before anything is allocated.
    let at = bytes
        .windows(packets.0.len())
        .position(|w| w == packets.0)
        .unwrap();
    let mut hostile = bytes.clone();
    hostile[at..at + 4].copy_from_slice(&1_000_000u32.to_be_bytes());
    let err = legacy::load_into(&mut UsbRedir::default(), &hostile, 1).unwrap_err();
    assert!(
        matches!(
            err.kind(),
            ErrorKind::LengthTooLarge {
                len: 1_000_000,
                max: 4096
            }
        ),
        "{err}"
    );
}

/// The system-bus ESP (m68k, SPARC) sends the same `mig_version_id` and core as
/// the PCI one after its PCI function and DMA registers: the fixtures' cores of
/// both releases load into it and save back the same.
#[test]
fn sysbus_esp_is_the_pci_esps_core() {
    for name in ["pc-i440fx-7.2-esp.mig", "pc-i440fx-10.0-esp.mig"] {
        let bytes = read_fixture(name);
        let s = dump::walk_legacy(&bytes).unwrap();
        let body = s
            .sections
            .iter()
            .find(|x| x.kind == SectionKind::Full && x.ident.idstr.ends_with("/pciespscsi"))
            .unwrap()
            .body;
        let mut pci = PciEspScsi::default();
        legacy::load_into(&mut pci, body, 2).unwrap();
        // After the PCI function and the 32 bytes of DMA registers.
        let at = legacy::to_bytes(&pci.parent_obj).unwrap().len() + 32;
        let mut sysbus = SysBusEspScsi::default();
        legacy::load_into(&mut sysbus, &body[at..], 2).unwrap();
        assert_eq!(
            (sysbus.mig_version_id, &sysbus.esp),
            (pci.mig_version_id, &pci.esp),
            "{name}"
        );
        assert!(legacy::to_bytes(&sysbus).unwrap() == body[at..], "{name}");
    }
}

/// The UEFI variable store (QEMU 10.0) with a variable and a policy: QEMU's
/// lists, a byte 1 before each element and a 0 after the last, each variable's
/// name and data after their sizes (`hw/uefi/var-service-*.c`).
#[test]
fn uefi_variables_are_qemus_lists() {
    let mut store = UefiVarsSysbus::default();
    let empty = legacy::to_bytes(&store).unwrap();
    store.state.variables = QTailQ(vec![UefiVariable {
        guid: [0xab; 16],
        name_size: 4,
        data_size: 2,
        attributes: 7,
        name: b"B\0\0\0".to_vec(),
        data: vec![1, 0],
        time: UefiTime {
            year: 2026,
            ..UefiTime::default()
        },
    }]);
    store.state.var_policies = QTailQ(vec![UefiVarPolicy {
        entry_size: 3,
        entry: vec![9, 8, 7],
    }]);
    let bytes = legacy::to_bytes(&store).unwrap();
    let lists = Put::default()
        .u8(1)
        .bytes(&[0xab; 16])
        .be32(4)
        .be32(2)
        .be32(7)
        .bytes(b"B\0\0\0")
        .bytes(&[1, 0])
        .be16(2026)
        .bytes(&[0; 5])
        .be32(0)
        .u8(0)
        .u8(1)
        .be32(3)
        .bytes(&[9, 8, 7])
        .u8(0);
    // Empty, the lists are their two end markers.
    assert_eq!(bytes.len(), empty.len() - 2 + lists.0.len());
    assert!(bytes[empty.len() - 2..] == lists.0[..]);
    let mut back = UefiVarsSysbus::default();
    legacy::load_into(&mut back, &bytes, 0).unwrap();
    assert_eq!(back, store);
    // A name longer than the buffer it came through.
    let mut hostile = bytes.clone();
    let at = empty.len() - 2 + 1 + 16;
    hostile[at..at + 4].copy_from_slice(&100_000u32.to_be_bytes());
    let err = legacy::load_into(&mut UefiVarsSysbus::default(), &hostile, 0).unwrap_err();
    assert!(
        matches!(
            err.kind(),
            ErrorKind::LengthTooLarge {
                len: 100_000,
                max: 65_536
            }
        ),
        "{err}"
    );
}

/// The VMBus (which needs KVM's Hyper-V SynIC, so no fixture has it): its
/// state, the guest page lists (each after a byte 1, its frame numbers after
/// their count) and, while messages wait, the 16-message queue in a subsection
/// (`hw/hyperv/vmbus.c`).
#[test]
fn vmbus_page_lists_and_queue_are_qemus() {
    let mut bus = VmbusBridge::default();
    bus.bus.state = 3;
    bus.bus.version = 0x50000;
    bus.bus.gpadl_list = QTailQ(vec![VmbusGpadl {
        id: 0xe1e10,
        child_relid: 2,
        num_gfns: 2,
        seen_gfns: 2,
        gfns: vec![0x1000, 0x1001],
        state: 1,
    }]);
    bus.bus.rx_queue.rx_queue_size = 1;
    bus.bus.rx_queue.rx_queue[0].payload_size = 8;
    let bytes = legacy::to_bytes(&bus).unwrap();
    let mut expected = Put::default()
        .u8(3)
        .be32(0x50000)
        .be32(0)
        .be64(0)
        .u8(1)
        .be32(0xe1e10)
        .be32(2)
        .be32(2)
        .be32(2)
        .be64(0x1000)
        .be64(0x1001)
        .u8(1)
        .u8(0)
        .u8(5)
        .u8(14)
        .bytes(b"vmbus/rx_queue")
        .be32(0)
        .u8(0)
        .u8(1)
        .be32(8)
        .bytes(&[0; 240]);
    for _ in 1..16 {
        expected = expected.be32(0).bytes(&[0; 240]);
    }
    assert!(bytes == expected.0);
    let mut back = VmbusBridge::default();
    legacy::load_into(&mut back, &bytes, 0).unwrap();
    assert_eq!(back, bus);
    // A page list longer than the bound.
    let mut hostile = bytes.clone();
    hostile[1 + 4 + 4 + 8 + 1 + 8..][..4].copy_from_slice(&u32::MAX.to_be_bytes());
    let err = legacy::load_into(&mut VmbusBridge::default(), &hostile, 0).unwrap_err();
    assert!(
        matches!(err.kind(), ErrorKind::LengthTooLarge { max: 1_048_576, .. }),
        "{err}"
    );
}
