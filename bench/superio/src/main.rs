// SPDX-License-Identifier: MIT
//! vm-superio on the paths of bench/uart_bench.c, printing the same lines
//! (impl=superio). vm-superio hands each THR byte to its Write at once and
//! has no TX FIFO; RX goes through enqueue_raw_bytes into its 64-byte FIFO.
use std::cell::{Cell, RefCell};
use std::io::{self, Write};
use std::rc::Rc;
use std::time::Instant;
use vm_superio::{Serial, Trigger};

struct NopTrigger;
impl Trigger for NopTrigger {
    type E = io::Error;
    fn trigger(&self) -> Result<(), io::Error> {
        Ok(())
    }
}

/// Sink that takes everything and keeps a checksum, like uart_bench's.
/// Serial owns its Write and has no accessor, so the counters are shared.
#[derive(Clone, Default)]
struct Sink {
    sum: Rc<Cell<u64>>,
    calls: Rc<Cell<u64>>,
    rec: Option<Rc<RefCell<Vec<u8>>>>,
}
impl Write for Sink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.calls.set(self.calls.get() + 1);
        if let Some(r) = self.rec.as_ref() {
            r.borrow_mut().extend_from_slice(buf);
        }
        let mut sum = self.sum.get();
        for b in buf {
            sum += *b as u64;
        }
        self.sum.set(sum);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

type S = Serial<NopTrigger, vm_superio::serial::NoEvents, Sink>;

fn new_serial(sink: Sink) -> S {
    let mut s = Serial::new(NopTrigger, sink);
    for (off, v) in [(3u8, 0x83u8), (0, 1), (1, 0), (3, 3), (2, 0x87), (4, 0x0b)] {
        s.write(off, v).unwrap();
    }
    s
}

fn polled_tx(s: &mut S, data: &[u8]) {
    for &b in data {
        while s.read(5) & 0x20 == 0 {}
        s.write(0, b).unwrap();
    }
    let _ = s.read(5);
}

fn irq_tx(s: &mut S, data: &[u8]) {
    s.write(1, 0x02).unwrap();
    let mut i = 0;
    while i < data.len() {
        let _ = s.read(2);
        if s.read(5) & 0x20 == 0 {
            continue;
        }
        let mut k = 0;
        while k < 16 && i < data.len() {
            s.write(0, data[i]).unwrap();
            i += 1;
            k += 1;
        }
    }
    let _ = s.read(5);
    s.write(1, 0).unwrap();
}

fn rx(s: &mut S, data: &[u8], mut out: Option<&mut Vec<u8>>) -> u64 {
    let mut sum = 0u64;
    let mut i = 0;
    while i < data.len() {
        let end = (i + 64).min(data.len());
        i += s.enqueue_raw_bytes(&data[i..end]).unwrap();
        while s.read(5) & 0x01 != 0 {
            let b = s.read(0);
            sum += b as u64;
            if let Some(o) = out.as_mut() {
                o.push(b);
            }
        }
    }
    sum
}

fn main() {
    let smoke = std::env::args().nth(1).as_deref() == Some("--smoke");
    let n: usize = if smoke { 4096 } else { 1 << 22 };
    let reps = if smoke { 1 } else { 7 };
    let data: Vec<u8> = (0..n).map(|i| (i * 131 + (i >> 8)) as u8).collect();
    let expect: u64 = data.iter().map(|&b| b as u64).sum();

    for name in ["polled_tx", "irq_tx", "rx"] {
        // Correctness first.
        let rec = Sink { rec: Some(Rc::new(RefCell::new(Vec::new()))), ..Default::default() };
        let mut s = new_serial(rec.clone());
        let mut got = Vec::new();
        match name {
            "polled_tx" => polled_tx(&mut s, &data),
            "irq_tx" => irq_tx(&mut s, &data),
            _ => {
                rx(&mut s, &data, Some(&mut got));
            }
        }
        if name != "rx" {
            got = rec.rec.as_ref().unwrap().borrow().clone();
        }
        assert!(got == data, "{}: bytes lost or changed", name);

        let sink = Sink::default();
        let mut s = new_serial(sink.clone());
        let mut t = Vec::new();
        let mut rx_sum = 0;
        for r in -1..reps as i32 {
            let t0 = Instant::now();
            match name {
                "polled_tx" => polled_tx(&mut s, &data),
                "irq_tx" => irq_tx(&mut s, &data),
                _ => rx_sum += rx(&mut s, &data, None),
            }
            if r >= 0 {
                t.push(t0.elapsed().as_nanos() as f64);
            }
        }
        let total = expect * (reps as u64 + 1);
        if name == "rx" {
            assert_eq!(rx_sum, total);
        } else {
            assert_eq!(sink.sum.get(), total);
        }
        t.sort_by(|a, b| a.partial_cmp(b).unwrap());
        let calls = if name == "rx" { 0.0 } else { sink.calls.get() as f64 / (n as f64 * (reps as f64 + 1.0)) };
        println!(
            "case={} impl=superio ns_per_byte={:.3} min_ns_per_byte={:.3} bytes_per_s={:.3e} sink_calls_per_byte={:.4}",
            name, t[reps / 2] / n as f64, t[0] / n as f64, n as f64 * 1e9 / t[reps / 2], calls
        );
        let _ = io::stdout().flush();
    }
}
