//! The process that owns a running experiment, and whether it still exists.
//!
//! A `tradeoff run` killed with SIGKILL (or by the OOM killer, or a power cut) has no chance to
//! mark its experiment finished: the row keeps status `running`. Each experiment therefore records
//! its owner when it begins, and readers ask whether that owner is still there. A pid alone is
//! not enough: pids are reused, so the owner is the pid with its start time (clock ticks since
//! boot, `/proc/<pid>/stat` field 22) and the boot it belongs to (`/proc/sys/kernel/random/boot_id`).

use std::io::ErrorKind;
use std::path::Path;

/// A process, identified so that a reused pid or another boot is not mistaken for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owner {
    pub pid: u32,
    /// `None` where `/proc` cannot say (not Linux): only the pid is compared then.
    pub start_time: Option<u64>,
    pub boot_id: Option<String>,
}

impl Owner {
    /// This process.
    pub fn current() -> Owner {
        Owner::of(std::process::id())
    }

    /// The process `pid` as it is now; its start time is `None` when it does not exist.
    pub fn of(pid: u32) -> Owner {
        Owner {
            pid,
            start_time: read_stat(pid).ok().map(|stat| stat.start_time),
            boot_id: boot_id(),
        }
    }

    /// Whether this process still runs. Anything that cannot be decided counts as alive: an
    /// experiment wrongly read as running can be looked at again, one wrongly taken over would
    /// have two writers.
    pub fn is_alive(&self) -> bool {
        if let (Some(recorded), Some(now)) = (&self.boot_id, boot_id())
            && *recorded != now
        {
            return false;
        }
        match read_stat(self.pid) {
            // A zombie has ended; only its exit status is left for its parent to collect.
            Ok(stat) => !stat.ended && self.start_time.is_none_or(|start| start == stat.start_time),
            Err(error) => !(error.kind() == ErrorKind::NotFound && Path::new("/proc/self").exists()),
        }
    }
}

/// What `/proc/<pid>/stat` says about a process.
#[derive(Debug, PartialEq, Eq)]
struct Stat {
    /// State `Z` (zombie) or `X` (dead).
    ended: bool,
    start_time: u64,
}

fn read_stat(pid: u32) -> std::io::Result<Stat> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    parse_stat(&text).ok_or_else(|| std::io::Error::new(ErrorKind::InvalidData, "unreadable /proc stat"))
}

/// Fields 3 (state) and 22 (start time) of a stat line. The command name (field 2) is in
/// parentheses and may itself contain spaces and parentheses, so fields are counted from the
/// last `)`.
fn parse_stat(text: &str) -> Option<Stat> {
    let rest = &text[text.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let state = fields.first()?;
    Some(Stat {
        ended: matches!(*state, "Z" | "X" | "x"),
        start_time: fields.get(22 - 3)?.parse().ok()?,
    })
}

fn boot_id() -> Option<String> {
    std::fs::read_to_string("/proc/sys/kernel/random/boot_id")
        .ok()
        .map(|id| id.trim().to_string())
        .filter(|id| !id.is_empty())
}

#[cfg(test)]
mod tests {
    use std::process::Command;

    use super::*;

    #[test]
    fn this_process_is_alive() {
        let me = Owner::current();
        assert!(me.start_time.is_some() && me.boot_id.is_some(), "{me:?}");
        assert!(me.is_alive());
    }

    #[test]
    fn a_reused_pid_with_another_start_time_is_not_the_owner() {
        let me = Owner::current();
        let reused = Owner {
            start_time: me.start_time.map(|t| t + 1),
            ..me
        };
        assert!(!reused.is_alive());
    }

    #[test]
    fn an_owner_from_another_boot_is_gone() {
        let earlier = Owner {
            boot_id: Some("00000000-0000-0000-0000-000000000000".into()),
            ..Owner::current()
        };
        assert!(!earlier.is_alive());
    }

    #[test]
    fn a_process_that_was_killed_is_gone_once_reaped_and_as_a_zombie() {
        let mut child = Command::new("sleep").arg("30").spawn().unwrap();
        let owner = Owner::of(child.id());
        assert!(owner.is_alive());
        child.kill().unwrap();
        // Not yet waited for: a zombie, which writes nothing any more.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while owner.is_alive() {
            assert!(std::time::Instant::now() < deadline, "still alive after SIGKILL");
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        child.wait().unwrap();
        assert!(!owner.is_alive());
    }

    #[test]
    fn a_stat_line_is_read_past_a_command_name_with_spaces_and_parentheses() {
        let line = "4242 (tradeoff (x) y) S 1 4242 4242 0 -1 4194560 1 0 0 0 3 1 0 0 20 0 3 0 987654 1000 10 18446744073709551615";
        assert_eq!(
            parse_stat(line),
            Some(Stat {
                ended: false,
                start_time: 987654
            })
        );
        assert_eq!(parse_stat("1 (z) Z 1"), None);
        assert_eq!(parse_stat("garbage"), None);
    }
}
