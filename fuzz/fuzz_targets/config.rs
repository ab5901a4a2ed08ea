//! The config loader on JSON5 and TOML text. Properties: no panic; an accepted config
//! prints (`Debug`, the redacted JSON) without panicking.
#![no_main]

use libfuzzer_sys::fuzz_target;
use telephony::config::Config;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    for parsed in [Config::from_json5_str(text), Config::from_toml_str(text)] {
        match parsed {
            Ok(cfg) => {
                let _ = format!("{cfg:?}");
                let _ = cfg.redacted_json();
                let _ = cfg.inactive_keys();
                let _ = cfg.chunk_options();
            }
            Err(e) => {
                let _ = e.to_string();
            }
        }
    }
});
