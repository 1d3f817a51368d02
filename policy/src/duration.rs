//! Human durations as written in config and requests: `90m`, `4h`, `1h30m`, `2d`, `45s`.

use std::fmt;
use std::str::FromStr;

/// A whole number of seconds, written and read in the `1h30m` form.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Duration(u64);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    #[error("{0:?} is not a duration: write it like 30m, 4h or 1h30m")]
    Malformed(String),
    #[error("{0:?} is not a duration: it must be longer than zero")]
    Zero(String),
    #[error("{0:?} is too long a duration")]
    TooLong(String),
}

impl Duration {
    pub const fn from_secs(secs: u64) -> Duration {
        Duration(secs)
    }

    pub const fn from_mins(mins: u64) -> Duration {
        Duration(mins * 60)
    }

    pub const fn from_hours(hours: u64) -> Duration {
        Duration(hours * 3600)
    }

    pub const fn as_secs(self) -> u64 {
        self.0
    }

    pub fn to_std(self) -> std::time::Duration {
        std::time::Duration::from_secs(self.0)
    }

    /// Parses `1h30m`-style text. Units are `d`, `h`, `m` and `s`, each at most once and in that
    /// order; zero is rejected because no grant or timer may be zero long.
    pub fn parse(text: &str) -> Result<Duration, DurationError> {
        let malformed = || DurationError::Malformed(text.to_owned());
        let trimmed = text.trim();
        if trimmed.is_empty() {
            return Err(malformed());
        }
        let units = [('d', 86_400u64), ('h', 3_600), ('m', 60), ('s', 1)];
        let mut next_unit = 0;
        let mut total: u64 = 0;
        let mut digits = String::new();
        for ch in trimmed.chars() {
            if ch.is_ascii_digit() {
                digits.push(ch);
                continue;
            }
            let position = units[next_unit..]
                .iter()
                .position(|(unit, _)| *unit == ch.to_ascii_lowercase())
                .ok_or_else(malformed)?;
            if digits.is_empty() {
                return Err(malformed());
            }
            let amount: u64 = digits
                .parse()
                .map_err(|_| DurationError::TooLong(text.to_owned()))?;
            let (_, factor) = units[next_unit + position];
            total = amount
                .checked_mul(factor)
                .and_then(|secs| total.checked_add(secs))
                .ok_or_else(|| DurationError::TooLong(text.to_owned()))?;
            next_unit += position + 1;
            digits.clear();
        }
        if !digits.is_empty() {
            return Err(malformed());
        }
        // Ten years is far beyond any sane grant and keeps timestamp arithmetic overflow-free.
        if total > 10 * 365 * 86_400 {
            return Err(DurationError::TooLong(text.to_owned()));
        }
        if total == 0 {
            return Err(DurationError::Zero(text.to_owned()));
        }
        Ok(Duration(total))
    }
}

impl FromStr for Duration {
    type Err = DurationError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Duration::parse(text)
    }
}

impl fmt::Display for Duration {
    /// The canonical form: largest units first, zero parts left out (`5400` → `1h30m`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0 == 0 {
            return f.write_str("0s");
        }
        let mut rest = self.0;
        for (unit, factor) in [("d", 86_400u64), ("h", 3_600), ("m", 60), ("s", 1)] {
            if rest >= factor {
                write!(f, "{}{unit}", rest / factor)?;
                rest %= factor;
            }
        }
        Ok(())
    }
}

impl serde::Serialize for Duration {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Duration {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Duration::parse(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_documented_forms() {
        assert_eq!(Duration::parse("90m"), Ok(Duration::from_mins(90)));
        assert_eq!(Duration::parse("4h"), Ok(Duration::from_hours(4)));
        assert_eq!(Duration::parse("1h30m"), Ok(Duration::from_mins(90)));
        assert_eq!(Duration::parse("2d"), Ok(Duration::from_hours(48)));
        assert_eq!(Duration::parse("45s"), Ok(Duration::from_secs(45)));
        assert_eq!(Duration::parse("1d2h3m4s"), Ok(Duration::from_secs(93_784)));
    }

    #[test]
    fn rejects_malformed_zero_and_huge_durations() {
        for bad in [
            "", "h", "1", "1x", "1m1h", "1h1h", "-1h", "1.5h", "1 h", "h1",
        ] {
            assert!(
                matches!(Duration::parse(bad), Err(DurationError::Malformed(_))),
                "{bad}"
            );
        }
        assert!(matches!(Duration::parse("0m"), Err(DurationError::Zero(_))));
        assert!(matches!(
            Duration::parse("99999999999999999999h"),
            Err(DurationError::TooLong(_))
        ));
        assert!(matches!(
            Duration::parse("5000d"),
            Err(DurationError::TooLong(_))
        ));
    }

    #[test]
    fn displays_canonically_and_round_trips() {
        assert_eq!(Duration::from_mins(90).to_string(), "1h30m");
        assert_eq!(Duration::from_hours(12).to_string(), "12h");
        assert_eq!(Duration::from_secs(86_400 + 61).to_string(), "1d1m1s");
        for secs in [1, 59, 60, 61, 3599, 3600, 5400, 86_399, 86_400, 200_000] {
            let duration = Duration::from_secs(secs);
            assert_eq!(Duration::parse(&duration.to_string()), Ok(duration));
        }
    }
}
