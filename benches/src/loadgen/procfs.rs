//! Memory and CPU of a process (and of each of its threads) from `/proc`.
//!
//! CPU times come from `/proc/<pid>/stat` and `/proc/<pid>/task/<tid>/stat` (`utime` +
//! `stime`), in clock ticks of 1/100 s (`USER_HZ`, 100 on Linux).

use std::collections::BTreeMap;

/// Clock ticks per second in `/proc/*/stat`.
const USER_HZ: f64 = 100.0;

/// A `kB` field of `/proc/<pid>/status` (`VmHWM`, `VmRSS`), in bytes.
pub(crate) fn status_kb(pid: &str, field: &str) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    text.lines().find_map(|l| {
        let rest = l.strip_prefix(field)?.strip_prefix(':')?;
        let kb: u64 = rest.trim().strip_suffix("kB")?.trim().parse().ok()?;
        Some(kb * 1024)
    })
}

/// `(comm, utime + stime in seconds)` from a `stat` file.
fn parse_stat(text: &str) -> Option<(String, f64)> {
    // comm is in parentheses and may contain spaces; fields after it are space separated.
    let open = text.find('(')?;
    let close = text.rfind(')')?;
    let comm = text[open + 1..close].to_string();
    let rest: Vec<&str> = text[close + 1..].split_whitespace().collect();
    // After comm: state(0) ppid(1) … utime(11) stime(12).
    let utime: u64 = rest.get(11)?.parse().ok()?;
    let stime: u64 = rest.get(12)?.parse().ok()?;
    Some((comm, (utime + stime) as f64 / USER_HZ))
}

/// CPU seconds used by process `pid` so far (all its threads, live and exited).
pub(crate) fn process_cpu(pid: &str) -> Option<f64> {
    parse_stat(&std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?).map(|(_, s)| s)
}

/// CPU seconds per live thread of `pid`: tid → (name, seconds).
pub(crate) fn thread_cpu(pid: &str) -> BTreeMap<String, (String, f64)> {
    let mut out = BTreeMap::new();
    let Ok(dir) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return out;
    };
    for entry in dir.flatten() {
        let tid = entry.file_name().to_string_lossy().into_owned();
        if let Some(stat) = std::fs::read_to_string(entry.path().join("stat"))
            .ok()
            .and_then(|t| parse_stat(&t))
        {
            out.insert(tid, stat);
        }
    }
    out
}

/// `(run-queue wait in seconds, times scheduled)` from a `schedstat` file (`run_ns wait_ns
/// slices`).
fn parse_schedstat(text: &str) -> Option<(f64, u64)> {
    let mut f = text.split_whitespace().skip(1);
    let wait: u64 = f.next()?.parse().ok()?;
    let slices: u64 = f.next()?.parse().ok()?;
    Some((wait as f64 / 1e9, slices))
}

/// Per live thread of `pid`: tid → (name, seconds spent runnable but waiting for a CPU,
/// times it was scheduled), from `/proc/<pid>/task/<tid>/schedstat`.
pub(crate) fn thread_waits(pid: &str) -> BTreeMap<String, (String, f64, u64)> {
    let mut out = BTreeMap::new();
    let Ok(dir) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return out;
    };
    for entry in dir.flatten() {
        let tid = entry.file_name().to_string_lossy().into_owned();
        let name = std::fs::read_to_string(entry.path().join("comm"))
            .map(|n| n.trim_end().to_string())
            .unwrap_or_default();
        if let Some((wait, slices)) = std::fs::read_to_string(entry.path().join("schedstat"))
            .ok()
            .and_then(|t| parse_schedstat(&t))
        {
            out.insert(tid, (name, wait, slices));
        }
    }
    out
}

/// CPU seconds each thread name used between two [`thread_cpu`] snapshots, busiest first
/// (threads of the same name are added up; the count is the number of threads).
pub(crate) fn cpu_by_name(
    before: &BTreeMap<String, (String, f64)>,
    after: &BTreeMap<String, (String, f64)>,
) -> Vec<(String, usize, f64)> {
    let mut by: BTreeMap<String, (usize, f64)> = BTreeMap::new();
    for (tid, (name, secs)) in after {
        let prior = before.get(tid).map_or(0.0, |(_, s)| *s);
        let e = by.entry(name.clone()).or_default();
        e.0 += 1;
        e.1 += secs - prior;
    }
    let mut v: Vec<(String, usize, f64)> = by.into_iter().map(|(n, (c, s))| (n, c, s)).collect();
    v.sort_by(|a, b| b.2.total_cmp(&a.2));
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_stat_with_spaces_in_comm() {
        let line = "1234 (tokio worker) S 1 2 3 4 5 6 7 8 9 10 250 50 0 0 20 0 4 0 100 0 0";
        let (comm, secs) = parse_stat(line).unwrap();
        assert_eq!(comm, "tokio worker");
        assert!((secs - 3.0).abs() < 1e-9);
    }

    #[test]
    fn parses_schedstat() {
        assert_eq!(
            parse_schedstat("220459928 420600357 384\n"),
            Some((0.420600357, 384))
        );
        assert_eq!(parse_schedstat("1 2"), None);
    }

    #[test]
    fn reads_own_process() {
        assert!(status_kb("self", "VmHWM").unwrap() > 0);
        assert!(process_cpu("self").is_some());
        assert!(!thread_cpu("self").is_empty());
        assert!(!thread_waits("self").is_empty());
    }
}
