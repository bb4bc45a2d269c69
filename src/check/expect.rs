//! The family-independent part of `expect:`: message counts and the checks a
//! scenario says must fail.

use super::CheckResult;
use crate::engine::stats::Stats;
use crate::scenario::model::Expect;

/// Adds the message expectations to `results` and applies `violations`.
pub fn evaluate(expect: &Expect, stats: &Stats, results: &mut Vec<CheckResult>) {
    if let Some(b) = expect.messages {
        let n = stats.sent.total();
        results.push(CheckResult::new(format!("expect messages {b}"), b.holds(n), format!("{n} sent")));
    }
    for (kind, b) in &expect.messages_by_kind {
        let n = stats.sent.get(kind);
        results.push(CheckResult::new(format!("expect {kind} messages {b}"), b.holds(n), format!("{n} sent")));
    }
    for name in &expect.violations {
        match results.iter_mut().find(|r| &r.name == name) {
            Some(r) => {
                r.expected_to_fail = true;
                if r.ok {
                    r.ok = false;
                    r.detail = format!("expected to fail, but it held: {}", r.detail);
                } else {
                    r.ok = true;
                    r.detail = format!("fails as the scenario expects: {}", r.detail);
                }
            }
            None => results.push(CheckResult::new(format!("expect violation {name}"), false, "this check did not run")),
        }
    }
}
