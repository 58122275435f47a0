//! Time, for everyone: a clock (the system's, or one the tests move by hand so
//! that nothing in a test sleeps), RFC 3339 as Kubernetes writes it, and
//! kubectl's short durations. The console, the engine, the commands and the
//! embedded cluster all read time here.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

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

/// Format milliseconds since the epoch as `YYYY-MM-DDTHH:MM:SSZ`.
pub fn rfc3339(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
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

/// Parse `YYYY-MM-DDTHH:MM:SS[.frac]Z` back to milliseconds (the fraction's
/// first three digits count).
pub fn parse_rfc3339(s: &str) -> Option<i64> {
    let s = s.strip_suffix('Z')?;
    let (date, time) = s.split_once('T')?;
    let mut d = date.split('-').map(|p| p.parse::<i64>());
    let (y, m, day) = (d.next()?.ok()?, d.next()?.ok()?, d.next()?.ok()?);
    let (time, frac) = time.split_once('.').unwrap_or((time, ""));
    let frac_ms = if frac.is_empty() {
        0
    } else {
        format!("{:0<3}", &frac[..frac.len().min(3)])
            .parse::<i64>()
            .ok()?
    };
    let mut t = time.split(':').map(|p| p.parse::<i64>());
    let (hh, mm, ss) = (t.next()?.ok()?, t.next()?.ok()?, t.next()?.ok()?);
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some((days * 86_400 + hh * 3600 + mm * 60 + ss) * 1000 + frac_ms)
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
    }
}
