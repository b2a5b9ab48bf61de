//! Every decoder behind `fuzz::exercise`: the first byte picks the target
//! (OTLP signal, encoding and compression, or a hook payload decoder), the
//! rest is the input. A panic or a broken property is a crash.
#![no_main]

use _core::fuzz::{exercise, targets};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&pick, input)) = data.split_first() else { return };
    let all = targets();
    let target = all[pick as usize % all.len()];
    if let Err(broken) = exercise(target, input) {
        panic!("{target:?}: {broken}");
    }
});
