//! The KVM guest as separate processes, so a test can save in one and restore in
//! another:
//!
//! - `kvm-guest run N`: boot, run N steps, print one report per line;
//! - `kvm-guest save N FILE legacy|ber`: boot, run N steps (printed), save vCPU, VM and
//!   RAM into FILE;
//! - `kvm-guest restore FILE M`: load FILE into a fresh VM, run M steps (printed).

#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
fn main() -> Result<(), Box<dyn std::error::Error>> {
    use vmstate_runtime::kvm::{VcpuState, VmWideState};
    use vmstate_runtime::ram::{RamBlock, RamBlockMut, RamLoader, RamSaver};
    use vmstate_runtime::stream::Registry;
    use vmstate_runtime::Format;
    use vmstate_test_support::kvm_guest::{Guest, Report, BLOCK};

    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize| args.get(i).cloned().ok_or("missing argument");
    let print = |reports: &[Report]| {
        for r in reports {
            println!("{r:08x}");
        }
    };
    match arg(0)?.as_str() {
        "run" => {
            let mut g = Guest::new(false)?;
            g.boot()?;
            print(&g.run(arg(1)?.parse()?)?);
        }
        "save" => {
            let mut g = Guest::new(false)?;
            g.boot()?;
            print(&g.run(arg(1)?.parse()?)?);
            let format = match arg(3)?.as_str() {
                "ber" => Format::Ber,
                _ => Format::Legacy,
            };
            let (mut vcpu, mut vm) = g.capture()?;
            let block = g.ram();
            let mut ram = RamSaver::new(vec![RamBlock {
                name: BLOCK,
                mem: &block,
            }])?;
            let mut reg = Registry::new("vmstate-kvm-guest");
            reg.iterative("ram", 0, &mut ram);
            reg.device("kvm-vcpu", 0, &mut vcpu);
            reg.device("kvm-vm", 0, &mut vm);
            // Streamed into the file, one section at a time.
            let file = std::fs::File::create(arg(2)?)?;
            reg.save_to(format, std::io::BufWriter::new(file))?;
        }
        "restore" => {
            // Loaded as it is read from the file (either format).
            let file = std::io::BufReader::new(std::fs::File::open(arg(1)?)?);
            let mut g = Guest::new(false)?;
            let (mut vcpu, mut vm) = (VcpuState::default(), VmWideState::default());
            {
                let mut block = g.ram();
                let mut ram = RamLoader::new(vec![RamBlockMut {
                    name: BLOCK,
                    mem: &mut block,
                }]);
                let mut reg = Registry::new("vmstate-kvm-guest");
                reg.iterative("ram", 0, &mut ram);
                reg.device("kvm-vcpu", 0, &mut vcpu);
                reg.device("kvm-vm", 0, &mut vm);
                reg.load_from(file)?;
            }
            g.restore(&vcpu, &vm)?;
            print(&g.run(arg(2)?.parse()?)?);
        }
        other => return Err(format!("unknown command {other:?}").into()),
    }
    Ok(())
}

#[cfg(not(all(target_os = "linux", target_arch = "x86_64")))]
fn main() {
    eprintln!("kvm-guest needs Linux on x86-64");
    std::process::exit(2);
}
