//! What the simulated containers write (ARCHITECTURE 7, logs): per pod and
//! container, the current instance's lines and the previous instance's, each
//! line stamped with the cluster's clock, as a kubelet keeps them.
//!
//! A worker that processes streams writes a line every few seconds; those
//! lines are not written by the world's tick (a world at rest costs nothing)
//! but derived when someone reads: a container's `beat` says from when, how
//! often and about what, and reading materializes the lines due by now.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

/// Lines a container keeps (older ones are rotated away, as a kubelet's
/// log rotation does).
pub const KEPT_LINES: usize = 5000;

/// How often a busy worker reports what it processed.
pub const BEAT_MS: i64 = 5000;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine {
    pub at_ms: i64,
    pub text: String,
}

/// A worker's periodic report: from `from_ms`, every [`BEAT_MS`], one line
/// about the next of `jobs` in turn.
#[derive(Debug, Clone)]
struct Beat {
    from_ms: i64,
    /// Beats already written as lines.
    written: i64,
    jobs: Vec<String>,
    version: u64,
    seed: u64,
}

#[derive(Debug, Default)]
struct Instance {
    lines: VecDeque<LogLine>,
    /// Lines ever appended to this instance (the index of the next one).
    appended: u64,
    ended: bool,
    beat: Option<Beat>,
}

impl Instance {
    fn push(&mut self, line: LogLine) {
        self.lines.push_back(line);
        self.appended += 1;
        if self.lines.len() > KEPT_LINES {
            self.lines.pop_front();
        }
    }

    /// Write the beats due by `now` (at most what the container keeps).
    fn catch_up(&mut self, now: i64) {
        let Some(beat) = self.beat.as_mut() else {
            return;
        };
        if beat.jobs.is_empty() || now < beat.from_ms {
            return;
        }
        let due = (now - beat.from_ms) / BEAT_MS;
        let first = beat.written.max(due - KEPT_LINES as i64);
        beat.written = due;
        let beat = beat.clone();
        for k in first..due {
            let job = &beat.jobs[k as usize % beat.jobs.len()];
            let records =
                200 + crate::domain::hash::stable_hash(&format!("{}/{k}", beat.seed)) % 800;
            self.push(LogLine {
                at_ms: beat.from_ms + (k + 1) * BEAT_MS,
                text: format!(
                    "processed {records} records from {job} (config version {})",
                    beat.version
                ),
            });
        }
    }

    /// When the next beat falls due, if one will.
    fn next_beat(&self) -> Option<i64> {
        let b = self.beat.as_ref().filter(|b| !b.jobs.is_empty())?;
        Some(b.from_ms + (b.written + 1) * BEAT_MS)
    }
}

#[derive(Debug, Default)]
struct ContainerLog {
    current: Instance,
    previous: Option<Instance>,
    /// Bumped each time a new instance starts (followers of the old one end).
    generation: u64,
}

/// Which instance a reader wants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Which {
    Current,
    Previous,
}

/// Where a reader stands in one container's log, to ask for what came after.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    pub generation: u64,
    pub next: u64,
}

/// What came after a cursor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum More {
    Lines(Vec<LogLine>, Cursor),
    /// The instance ended (the container exited, was restarted, or the pod is
    /// gone): a follower stops here.
    Ended,
}

/// A pod's containers' logs, by container name. A vector, not a map: a pod
/// has one or a few containers, and a map of one allocated a whole B-tree
/// node with room for eleven logs (3 KiB a pod, 150 MiB at 50,000 pods).
#[derive(Debug, Default)]
struct Containers(Vec<(String, ContainerLog)>);

impl Containers {
    fn get(&self, container: &str) -> Option<&ContainerLog> {
        self.0.iter().find(|(c, _)| c == container).map(|(_, l)| l)
    }

    fn get_mut(&mut self, container: &str) -> Option<&mut ContainerLog> {
        self.0
            .iter_mut()
            .find(|(c, _)| c == container)
            .map(|(_, l)| l)
    }

    /// The container's log, made when first written to.
    fn entry(&mut self, container: &str) -> &mut ContainerLog {
        let at = match self.0.iter().position(|(c, _)| c == container) {
            Some(at) => at,
            None => {
                // Room for this one: a first push makes room for four.
                self.0.reserve_exact(1);
                self.0.push((container.to_owned(), ContainerLog::default()));
                self.0.len() - 1
            }
        };
        &mut self.0[at].1
    }
}

type Pods = HashMap<(String, String), Containers>;

pub struct Logs {
    pods: Mutex<Pods>,
    changed: tokio::sync::watch::Sender<u64>,
}

impl Default for Logs {
    fn default() -> Self {
        Self::new()
    }
}

fn key(ns: &str, pod: &str) -> (String, String) {
    (ns.to_owned(), pod.to_owned())
}

/// One container's log, made when first written to.
fn container_log<'a>(
    pods: &'a mut Pods,
    ns: &str,
    pod: &str,
    container: &str,
) -> &'a mut ContainerLog {
    pods.entry(key(ns, pod)).or_default().entry(container)
}

impl Logs {
    pub fn new() -> Self {
        Self {
            pods: Mutex::default(),
            changed: tokio::sync::watch::channel(0).0,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Pods> {
        self.pods.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn bump(&self) {
        self.changed.send_modify(|n| *n += 1);
    }

    /// Woken whenever any container writes, starts, ends or goes.
    pub fn subscribe(&self) -> tokio::sync::watch::Receiver<u64> {
        self.changed.subscribe()
    }

    pub fn append(&self, ns: &str, pod: &str, container: &str, at_ms: i64, text: String) {
        {
            let mut pods = self.lock();
            let log = container_log(&mut pods, ns, pod, container);
            log.current.catch_up(at_ms);
            log.current.push(LogLine { at_ms, text });
        }
        self.bump();
    }

    /// A container (re)starts: what it wrote so far becomes the previous
    /// instance's log. A container's first start keeps what was written
    /// before it (there is no previous instance yet).
    pub fn start(&self, ns: &str, pod: &str, container: &str, at_ms: i64, first: bool) {
        {
            let mut pods = self.lock();
            let log = container_log(&mut pods, ns, pod, container);
            if !first {
                log.current.catch_up(at_ms);
                log.current.ended = true;
                log.current.beat = None;
                log.previous = Some(std::mem::take(&mut log.current));
                log.generation += 1;
            }
        }
        self.bump();
    }

    /// The container exited: its followers stop; its lines stay readable as
    /// its current (and, once it restarts, previous) log.
    pub fn exit(&self, ns: &str, pod: &str, container: &str, at_ms: i64) {
        {
            let mut pods = self.lock();
            if let Some(log) = pods
                .get_mut(&key(ns, pod))
                .and_then(|c| c.get_mut(container))
            {
                log.current.catch_up(at_ms);
                log.current.beat = None;
                log.current.ended = true;
            }
        }
        self.bump();
    }

    /// A worker processes `jobs` from `from_ms` on (an empty list: it idles).
    pub fn beat(
        &self,
        ns: &str,
        pod: &str,
        container: &str,
        from_ms: i64,
        jobs: Vec<String>,
        version: u64,
    ) {
        let mut pods = self.lock();
        let log = container_log(&mut pods, ns, pod, container);
        log.current.catch_up(from_ms);
        log.current.beat = Some(Beat {
            from_ms,
            written: 0,
            jobs,
            version,
            seed: crate::domain::hash::stable_hash(&format!("{ns}/{pod}/{container}")),
        });
    }

    /// The pod is gone, and its logs with it.
    pub fn remove(&self, ns: &str, pod: &str) {
        self.lock().remove(&key(ns, pod));
        self.bump();
    }

    /// One instance's lines as of `now`, and a cursor after the last of
    /// them. `None`: nothing was ever written for that instance. A previous
    /// instance is the one before the current, or the current one when it
    /// has exited and not started again (as the kubelet answers during a
    /// crash loop's back-off).
    pub fn read(
        &self,
        ns: &str,
        pod: &str,
        container: &str,
        which: Which,
        now: i64,
    ) -> Option<(Vec<LogLine>, Cursor)> {
        let mut pods = self.lock();
        let log = pods.get_mut(&key(ns, pod))?.get_mut(container)?;
        log.current.catch_up(now);
        let inst = match which {
            Which::Current => &log.current,
            Which::Previous if log.current.ended => &log.current,
            Which::Previous => log.previous.as_ref()?,
        };
        let cursor = Cursor {
            generation: log.generation,
            next: inst.appended,
        };
        Some((inst.lines.iter().cloned().collect(), cursor))
    }

    /// What the current instance wrote after `cursor`, or `Ended`.
    pub fn after(&self, ns: &str, pod: &str, container: &str, cursor: Cursor, now: i64) -> More {
        let mut pods = self.lock();
        let Some(log) = pods
            .get_mut(&key(ns, pod))
            .and_then(|c| c.get_mut(container))
        else {
            return More::Ended;
        };
        if log.generation != cursor.generation {
            return More::Ended;
        }
        log.current.catch_up(now);
        let inst = &log.current;
        let kept_from = inst.appended - inst.lines.len() as u64;
        let skip = cursor.next.saturating_sub(kept_from) as usize;
        let lines: Vec<LogLine> = inst.lines.iter().skip(skip).cloned().collect();
        if lines.is_empty() && inst.ended {
            return More::Ended;
        }
        More::Lines(
            lines,
            Cursor {
                generation: log.generation,
                next: inst.appended,
            },
        )
    }

    /// When the current instance's next beat falls due (a follower sleeps
    /// until then or until something is written).
    pub fn next_due(&self, ns: &str, pod: &str, container: &str) -> Option<i64> {
        self.lock()
            .get(&key(ns, pod))
            .and_then(|c| c.get(container))
            .and_then(|l| l.current.next_beat())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(lines: &[LogLine]) -> Vec<&str> {
        lines.iter().map(|l| l.text.as_str()).collect()
    }

    #[test]
    fn a_restart_keeps_the_last_instance_as_previous() {
        let logs = Logs::new();
        logs.start("ns", "p", "c", 0, true);
        logs.append("ns", "p", "c", 10, "first run".into());
        logs.exit("ns", "p", "c", 20);
        // During the back-off the exited instance is both current and previous.
        let (cur, _) = logs.read("ns", "p", "c", Which::Current, 30).unwrap();
        let (prev, _) = logs.read("ns", "p", "c", Which::Previous, 30).unwrap();
        assert_eq!(texts(&cur), ["first run"]);
        assert_eq!(texts(&prev), ["first run"]);
        logs.start("ns", "p", "c", 40, false);
        logs.append("ns", "p", "c", 50, "second run".into());
        let (cur, _) = logs.read("ns", "p", "c", Which::Current, 60).unwrap();
        let (prev, _) = logs.read("ns", "p", "c", Which::Previous, 60).unwrap();
        assert_eq!(texts(&cur), ["second run"]);
        assert_eq!(texts(&prev), ["first run"]);
    }

    #[test]
    fn no_previous_before_the_first_restart() {
        let logs = Logs::new();
        logs.start("ns", "p", "c", 0, true);
        logs.append("ns", "p", "c", 10, "up".into());
        assert!(logs.read("ns", "p", "c", Which::Previous, 20).is_none());
    }

    #[test]
    fn a_follower_gets_each_line_once_and_ends_with_the_instance() {
        let logs = Logs::new();
        logs.start("ns", "p", "c", 0, true);
        logs.append("ns", "p", "c", 1, "a".into());
        let (_, cursor) = logs.read("ns", "p", "c", Which::Current, 2).unwrap();
        logs.append("ns", "p", "c", 3, "b".into());
        let More::Lines(lines, cursor) = logs.after("ns", "p", "c", cursor, 4) else {
            panic!("ended too early")
        };
        assert_eq!(texts(&lines), ["b"]);
        assert_eq!(
            logs.after("ns", "p", "c", cursor, 5),
            More::Lines(vec![], cursor)
        );
        logs.start("ns", "p", "c", 6, false);
        assert_eq!(logs.after("ns", "p", "c", cursor, 7), More::Ended);
    }

    #[test]
    fn beats_are_written_when_read_in_time_order() {
        let logs = Logs::new();
        logs.start("ns", "w-0", "worker", 0, true);
        logs.beat(
            "ns",
            "w-0",
            "worker",
            1000,
            vec!["stream:a".into(), "stream:b".into()],
            3,
        );
        logs.append(
            "ns",
            "w-0",
            "worker",
            1000 + 2 * BEAT_MS + 1,
            "marker".into(),
        );
        let (lines, _) = logs
            .read("ns", "w-0", "worker", Which::Current, 1000 + 3 * BEAT_MS)
            .unwrap();
        let at: Vec<i64> = lines.iter().map(|l| l.at_ms).collect();
        assert!(at.windows(2).all(|w| w[0] <= w[1]), "{at:?}");
        assert_eq!(lines.len(), 4, "{lines:?}");
        assert!(lines[0].text.contains("from stream:a (config version 3)"));
        assert!(lines[1].text.contains("from stream:b"));
        assert_eq!(lines[2].text, "marker");
        assert_eq!(
            logs.next_due("ns", "w-0", "worker"),
            Some(1000 + 4 * BEAT_MS)
        );
    }

    #[test]
    fn a_long_silence_writes_no_more_than_is_kept() {
        let logs = Logs::new();
        logs.beat("ns", "w", "c", 0, vec!["s".into()], 1);
        let (lines, _) = logs
            .read("ns", "w", "c", Which::Current, BEAT_MS * 100_000)
            .unwrap();
        assert_eq!(lines.len(), KEPT_LINES);
        assert_eq!(lines.last().unwrap().at_ms, BEAT_MS * 100_000);
    }
}
