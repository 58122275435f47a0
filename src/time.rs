//! Time, for everyone: a clock (the system's, or one the tests move by hand so
//! that nothing in a test sleeps), RFC 3339 as Kubernetes writes it, and
//! kubectl's short durations. The console, the engine, the commands and the
//! embedded cluster all read time here.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// The system clock's time now, in milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    Clock::system().now_ms()
}

/// The system clock's time now, as Kubernetes writes a timestamp.
pub fn now_rfc3339() -> String {
    rfc3339(now_ms())
}

/// Milliseconds since the Unix epoch, either following the system clock or
/// advanced explicitly.
#[derive(Debug, Clone)]
pub struct Clock {
    manual: Option<Arc<AtomicI64>>,
}

impl Clock {
    pub fn system() -> Self {
        Self { manual: None }
    }

    /// A clock that starts at `start_ms` and only moves when told to.
    pub fn manual(start_ms: i64) -> Self {
        Self {
            manual: Some(Arc::new(AtomicI64::new(start_ms))),
        }
    }

    pub fn is_manual(&self) -> bool {
        self.manual.is_some()
    }

    pub fn now_ms(&self) -> i64 {
        match &self.manual {
            Some(t) => t.load(Ordering::SeqCst),
            None => SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_millis() as i64)
                .unwrap_or(0),
        }
    }

    /// Milliseconds on a clock of this process that only moves forward (a
    /// manual clock: its own time): for judging how long something lasted
    /// here, never for a timestamp written anywhere.
    pub fn local_ms(&self) -> i64 {
        match &self.manual {
            Some(t) => t.load(Ordering::SeqCst),
            None => {
                static START: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
                START
                    .get_or_init(std::time::Instant::now)
                    .elapsed()
                    .as_millis() as i64
            }
        }
    }

    /// Move a manual clock forward; a system clock ignores this.
    pub fn advance_ms(&self, ms: i64) {
        if let Some(t) = &self.manual {
            t.fetch_add(ms, Ordering::SeqCst);
        }
    }

    /// RFC 3339 timestamp of now, second precision, as Kubernetes writes it.
    pub fn timestamp(&self) -> String {
        rfc3339(self.now_ms())
    }

    /// RFC 3339 with microseconds, as in `managedFields` and Leases.
    pub fn micro_timestamp(&self) -> String {
        let ms = self.now_ms();
        let base = rfc3339(ms);
        format!(
            "{}.{:06}Z",
            base.trim_end_matches('Z'),
            (ms.rem_euclid(1000)) * 1000
        )
    }
}

/// A timestamp of `ms` since the epoch, held to what jiff can represent
/// (years -9999 to 9999): a number from the cluster never panics here.
fn timestamp_of(ms: i64) -> jiff::Timestamp {
    jiff::Timestamp::from_millisecond(ms).unwrap_or(if ms < 0 {
        jiff::Timestamp::MIN
    } else {
        jiff::Timestamp::MAX
    })
}

/// Format milliseconds since the epoch as `YYYY-MM-DDTHH:MM:SSZ`.
pub fn rfc3339(ms: i64) -> String {
    timestamp_of(ms.div_euclid(1000).saturating_mul(1000))
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

/// RFC 3339 with the fraction Go's `RFC3339Nano` writes: trailing zeros
/// dropped (`…:05.12Z`, `…:05Z`), as the kubelet stamps log lines.
pub fn rfc3339_nano(ms: i64) -> String {
    let base = rfc3339(ms);
    let frac = ms.rem_euclid(1000);
    if frac == 0 {
        return base;
    }
    let digits = format!("{frac:03}");
    format!(
        "{}.{}Z",
        base.trim_end_matches('Z'),
        digits.trim_end_matches('0')
    )
}

/// Parse an RFC 3339 timestamp (`YYYY-MM-DDTHH:MM:SS[.frac]Z`, or with an
/// offset) to milliseconds; None for anything else, whatever the text.
pub fn parse_rfc3339(s: &str) -> Option<i64> {
    s.parse::<jiff::Timestamp>()
        .ok()
        .map(|t| t.as_millisecond())
}

/// Kubernetes' short duration format: 45s, 3m12s, 5h, 3d4h, 2y.
pub fn human_duration(secs: i64) -> String {
    match secs {
        s if s < 120 => format!("{s}s"),
        s if s < 600 => format!("{}m{}s", s / 60, s % 60),
        s if s < 3 * 3600 => format!("{}m", s / 60),
        s if s < 8 * 3600 => format!("{}h{}m", s / 3600, (s % 3600) / 60),
        s if s < 2 * 86_400 => format!("{}h", s / 3600),
        s if s < 8 * 86_400 => format!("{}d{}h", s / 86_400, (s % 86_400) / 3600),
        s if s < 365 * 86_400 => format!("{}d", s / 86_400),
        s => format!("{}y", s / (365 * 86_400)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_and_parses() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_795_305_600_000), "2026-11-22T00:00:00Z");
        for ms in [0, 951_782_400_000, 1_795_305_645_000, 4_102_444_800_000] {
            assert_eq!(parse_rfc3339(&rfc3339(ms)), Some(ms));
        }
        let c = Clock::manual(1_795_305_600_000);
        c.advance_ms(1500);
        assert_eq!(c.timestamp(), "2026-11-22T00:00:01Z");
        assert_eq!(c.micro_timestamp(), "2026-11-22T00:00:01.500000Z");
        assert_eq!(
            parse_rfc3339("2026-11-22T00:00:01.5Z"),
            Some(1_795_305_601_500)
        );
        assert_eq!(rfc3339_nano(1_795_305_601_500), "2026-11-22T00:00:01.5Z");
    }

    #[test]
    fn what_the_cluster_writes_never_panics_a_parser() {
        for bad in [
            "2026-01-01T00:00:00.1€Z",
            "2026-13-01T00:00:00Z",
            "99999999999-01-01T00:00:00Z",
            "",
            "T",
            "2026-01-01T00:00:00",
        ] {
            assert_eq!(parse_rfc3339(bad), None, "{bad}");
        }
        assert!(rfc3339(i64::MAX).starts_with("9999-12-30"));
        assert!(
            rfc3339(i64::MIN).contains("9999-01-0"),
            "{}",
            rfc3339(i64::MIN)
        );
    }

    proptest::proptest! {
        #[test]
        fn any_text_parses_or_is_refused(s in ".*") {
            let _ = parse_rfc3339(&s);
        }

        #[test]
        fn every_second_round_trips(ms in -62_000_000_000_000i64..250_000_000_000_000) {
            let whole = ms.div_euclid(1000) * 1000;
            proptest::prop_assert_eq!(parse_rfc3339(&rfc3339(ms)), Some(whole));
        }
    }
}
