//! Units a scenario writes as text: durations (`5ms`, `1.5s`), signed offsets
//! (`+10s`, `-5s`), percentages (`10%`) and latency ranges (`1ms..3ms`).
//!
//! Each type parses in its `Deserialize` impl, so a bad value is reported by the
//! YAML front end at its own line and column, and prints back in the same form.

use std::borrow::Cow;
use std::fmt;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};

use crate::process::Nanos;

const UNITS: &[(&str, f64)] = &[("ns", 1.0), ("us", 1e3), ("µs", 1e3), ("ms", 1e6), ("s", 1e9), ("m", 60e9), ("min", 60e9), ("h", 3600e9)];

/// Parses `"<number><unit>"` into signed nanoseconds.
pub fn parse_signed(text: &str) -> Result<i64, String> {
    let t = text.trim();
    let (sign, body) = match t.as_bytes().first() {
        Some(b'-') => (-1.0, &t[1..]),
        Some(b'+') => (1.0, &t[1..]),
        _ => (1.0, t),
    };
    let split = body.find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '_')).unwrap_or(body.len());
    let (num, unit) = body.split_at(split);
    let unit = unit.trim();
    let num: String = num.chars().filter(|c| *c != '_').collect();
    if num.is_empty() {
        return Err(format!("\"{text}\" is not a duration: expected a number with a unit, like 5ms, 1.5s, 200us"));
    }
    let value: f64 = num.parse().map_err(|_| format!("\"{text}\" is not a duration: \"{num}\" is not a number"))?;
    if unit.is_empty() {
        if value == 0.0 {
            return Ok(0);
        }
        return Err(format!("\"{text}\" has no unit: write {num}ms, {num}s, {num}us or {num}ns"));
    }
    let Some((_, scale)) = UNITS.iter().find(|(u, _)| *u == unit) else {
        return Err(format!("\"{text}\": unknown unit \"{unit}\", expected one of ns, us, ms, s, m, h"));
    };
    let ns = sign * value * scale;
    if !ns.is_finite() || ns.abs() > 9.0e18 {
        return Err(format!("\"{text}\" is too large"));
    }
    Ok(ns.round() as i64)
}

/// A clock reading in seconds with microseconds: `10.000123s`, `-4.999877s`.
pub fn format_clock(ns: i64) -> String {
    let sign = if ns < 0 { "-" } else { "" };
    let a = ns.unsigned_abs();
    format!("{sign}{}.{:06}s", a / 1_000_000_000, (a % 1_000_000_000) / 1000)
}

/// Formats nanoseconds in the largest unit that keeps the value short and exact.
pub fn format_ns(ns: i64) -> String {
    let sign = if ns < 0 { "-" } else { "" };
    let a = ns.unsigned_abs();
    for (unit, scale) in [("s", 1_000_000_000u64), ("ms", 1_000_000), ("us", 1_000)] {
        if a >= scale {
            let whole = a / scale;
            let frac = a % scale;
            if frac == 0 {
                return format!("{sign}{whole}{unit}");
            }
            let digits = scale.ilog10() as usize;
            let s = format!("{frac:0digits$}");
            let s = s.trim_end_matches('0');
            // Up to microsecond precision in the unit, and a short whole part
            // below seconds: 1.5ms, 4.99884s, 1.234567ms; not 1234.567us.
            if s.len() <= 6 && (unit == "s" || whole < 1000) {
                return format!("{sign}{whole}.{s}{unit}");
            }
        }
    }
    format!("{sign}{a}ns")
}

macro_rules! visit_numbers {
    ($conv:path) => {
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
            $conv(&v.to_string()).map_err(E::custom)
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
            $conv(&v.to_string()).map_err(E::custom)
        }
        fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
            $conv(&v.to_string()).map_err(E::custom)
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
            $conv(v).map_err(E::custom)
        }
    };
}

struct TextOrNumber(&'static str);

impl Visitor<'_> for TextOrNumber {
    type Value = Dur;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
    visit_numbers!(Dur::parse);
}

/// A non-negative duration (`5ms`, `1.5s`, `0`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Dur(pub Nanos);

impl Dur {
    pub fn parse(text: &str) -> Result<Dur, String> {
        let ns = parse_signed(text)?;
        if ns < 0 {
            return Err(format!("\"{text}\" is negative: a duration or a time must be 0 or more"));
        }
        Ok(Dur(ns as Nanos))
    }
}

impl fmt::Display for Dur {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&format_ns(self.0 as i64))
    }
}

impl<'de> Deserialize<'de> for Dur {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(TextOrNumber("a duration like 5ms, 1.5s or 200us"))
    }
}

impl Serialize for Dur {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl JsonSchema for Dur {
    fn schema_name() -> Cow<'static, str> {
        "Duration".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "A duration: a number and a unit (ns, us, ms, s, m, h), e.g. 5ms, 1.5s; or 0.",
            "anyOf": [
                {"type": "string", "pattern": "^\\s*\\d[\\d_]*(\\.\\d+)?\\s*(ns|us|µs|ms|s|m|min|h)\\s*$"},
                {"const": 0}
            ]
        })
    }
}

/// A signed duration (`+10s`, `-5s`): a clock offset.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SignedDur(pub i64);

impl fmt::Display for SignedDur {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0 >= 0 {
            f.write_str("+")?;
        }
        f.write_str(&format_ns(self.0))
    }
}

impl<'de> Deserialize<'de> for SignedDur {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = SignedDur;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a signed duration like +10s or -5ms")
            }
            visit_numbers!(parse_signed_dur);
        }
        fn parse_signed_dur(t: &str) -> Result<SignedDur, String> {
            parse_signed(t).map(SignedDur)
        }
        d.deserialize_any(V)
    }
}

impl JsonSchema for SignedDur {
    fn schema_name() -> Cow<'static, str> {
        "SignedDuration".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "A signed duration, e.g. +10s, -5ms.",
            "anyOf": [
                {"type": "string", "pattern": "^\\s*[+-]?\\d[\\d_]*(\\.\\d+)?\\s*(ns|us|µs|ms|s|m|min|h)\\s*$"},
                {"const": 0}
            ]
        })
    }
}

/// A probability written as a percentage (`10%`, `0.5%`, `0`).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Percent(pub f64);

impl Percent {
    pub fn parse(text: &str) -> Result<Percent, String> {
        let t = text.trim();
        let Some(num) = t.strip_suffix('%') else {
            if t.parse::<f64>() == Ok(0.0) {
                return Ok(Percent(0.0));
            }
            return Err(format!("\"{text}\" is not a percentage: write it with a % sign, like 5% or 0.5%"));
        };
        let v: f64 = num.trim().parse().map_err(|_| format!("\"{text}\" is not a percentage: \"{num}\" is not a number"))?;
        if !(0.0..=100.0).contains(&v) {
            return Err(format!("\"{text}\" is out of range: a percentage is between 0% and 100%"));
        }
        Ok(Percent(v / 100.0))
    }
    /// The probability as a threshold on a `u64` draw, exact for 0 and 1.
    pub fn threshold(self) -> u64 {
        if self.0 >= 1.0 { u64::MAX } else { (self.0 * 18_446_744_073_709_551_616.0) as u64 }
    }
}

impl fmt::Display for Percent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Round away binary noise (0.07 * 100 = 7.000000000000001).
        let v = format!("{:.6}", self.0 * 100.0);
        let v = v.trim_end_matches('0').trim_end_matches('.');
        write!(f, "{v}%")
    }
}

impl<'de> Deserialize<'de> for Percent {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Percent;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a percentage like 5%")
            }
            visit_numbers!(Percent::parse);
        }
        d.deserialize_any(V)
    }
}

impl JsonSchema for Percent {
    fn schema_name() -> Cow<'static, str> {
        "Percent".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "A percentage between 0% and 100%, e.g. 5% or 0.5%.",
            "anyOf": [{"type": "string", "pattern": "^\\s*\\d+(\\.\\d+)?\\s*%\\s*$"}, {"const": 0}]
        })
    }
}

/// A one-way latency: a fixed value (`2ms`) or a uniform range (`1ms..3ms`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Latency {
    pub lo: Nanos,
    pub hi: Nanos,
}

impl Default for Latency {
    fn default() -> Self {
        Latency { lo: 1_000_000, hi: 1_000_000 }
    }
}

impl Latency {
    pub fn parse(text: &str) -> Result<Latency, String> {
        let (lo, hi) = match text.split_once("..") {
            Some((a, b)) => (Dur::parse(a)?, Dur::parse(b)?),
            None => {
                let d = Dur::parse(text)?;
                (d, d)
            }
        };
        if hi < lo {
            return Err(format!("\"{text}\": the range's end {hi} is below its start {lo}"));
        }
        Ok(Latency { lo: lo.0, hi: hi.0 })
    }
}

impl fmt::Display for Latency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.lo == self.hi { write!(f, "{}", Dur(self.lo)) } else { write!(f, "{}..{}", Dur(self.lo), Dur(self.hi)) }
    }
}

impl<'de> Deserialize<'de> for Latency {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Latency;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a latency like 2ms or a range like 1ms..3ms")
            }
            visit_numbers!(Latency::parse);
        }
        d.deserialize_any(V)
    }
}

impl JsonSchema for Latency {
    fn schema_name() -> Cow<'static, str> {
        "Latency".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "A one-way latency, fixed (2ms) or a uniform range (1ms..3ms).",
            "type": "string"
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_and_print() {
        assert_eq!(Dur::parse("5ms").unwrap().0, 5_000_000);
        assert_eq!(Dur::parse("1.5s").unwrap().0, 1_500_000_000);
        assert_eq!(Dur::parse("200us").unwrap().0, 200_000);
        assert_eq!(Dur::parse("0").unwrap().0, 0);
        assert_eq!(Dur(1_500_000).to_string(), "1.5ms");
        assert_eq!(Dur(3_000_000_000).to_string(), "3s");
        assert_eq!(Dur(1_234_567).to_string(), "1.234567ms");
        assert_eq!(Dur(39_885_504_000).to_string(), "39.885504s");
        assert_eq!(SignedDur(4_998_840_000).to_string(), "+4.99884s");
        assert_eq!(Dur(1_000_000_001).to_string(), "1000000001ns");
        assert!(Dur::parse("5 parsecs").unwrap_err().contains("unknown unit \"parsecs\""));
        assert!(Dur::parse("-1ms").unwrap_err().contains("negative"));
        assert!(Dur::parse("7").unwrap_err().contains("no unit"));
        assert_eq!(parse_signed("-5s").unwrap(), -5_000_000_000);
    }

    #[test]
    fn percent_and_latency() {
        assert_eq!(Percent::parse("10%").unwrap().0, 0.1);
        assert!(Percent::parse("0.1").is_err());
        assert!(Percent::parse("120%").is_err());
        assert_eq!(Percent(1.0).threshold(), u64::MAX);
        assert_eq!(Latency::parse("1ms..3ms").unwrap(), Latency { lo: 1_000_000, hi: 3_000_000 });
        assert!(Latency::parse("3ms..1ms").is_err());
        assert_eq!(Latency::parse("1ms..3ms").unwrap().to_string(), "1ms..3ms");
    }
}
