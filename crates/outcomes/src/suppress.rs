//! Disclosure control for published counts.
//!
//! The default is NHS England's rule for published statistics: a count of 1 to 7 is
//! suppressed, and every other count is rounded to the nearest 5 (0 stays 0). Secondary
//! suppression: among sibling cells that add up to a published total, one suppressed cell
//! could be recovered by subtraction, so the smallest other non-zero sibling is suppressed
//! with it.

/// The rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rule {
    /// Counts from 1 to this are suppressed (0: none).
    pub suppress_up_to: u64,
    /// Other counts are rounded to the nearest multiple of this (1: not rounded).
    pub round_to: u64,
}

impl Default for Rule {
    fn default() -> Rule {
        Rule {
            suppress_up_to: 7,
            round_to: 5,
        }
    }
}

impl Rule {
    /// No suppression, no rounding (`--unsuppressed`).
    pub const NONE: Rule = Rule {
        suppress_up_to: 0,
        round_to: 1,
    };

    /// Is `n` suppressed?
    pub fn hides(&self, n: u64) -> bool {
        n >= 1 && n <= self.suppress_up_to
    }

    /// `n` as published: `None` when suppressed, else rounded (halves round up).
    pub fn publish(&self, n: u64) -> Option<u64> {
        if self.hides(n) {
            return None;
        }
        let r = self.round_to.max(1);
        Some((n + r / 2) / r * r)
    }
}

/// Which of `siblings` (counts that add up to a published total) must be suppressed: those
/// the rule hides, and, when exactly one is hidden, the smallest other non-zero one too.
pub fn secondary(rule: &Rule, siblings: &[u64]) -> Vec<bool> {
    let mut hidden: Vec<bool> = siblings.iter().map(|&n| rule.hides(n)).collect();
    if hidden.iter().filter(|&&h| h).count() == 1 {
        let smallest = siblings
            .iter()
            .enumerate()
            .filter(|&(i, &n)| !hidden[i] && n > 0)
            .min_by_key(|&(_, &n)| n)
            .map(|(i, _)| i);
        if let Some(i) = smallest {
            hidden[i] = true;
        }
    }
    hidden
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nhs_england_rule() {
        let r = Rule::default();
        assert_eq!(r.publish(0), Some(0));
        for n in 1..=7 {
            assert_eq!(r.publish(n), None, "{n}");
        }
        assert_eq!(r.publish(8), Some(10));
        assert_eq!(r.publish(12), Some(10));
        assert_eq!(r.publish(13), Some(15));
        assert_eq!(r.publish(1234), Some(1235));
        assert_eq!(Rule::NONE.publish(3), Some(3));
    }

    #[test]
    fn one_hidden_sibling_takes_the_next_smallest_with_it() {
        // Total 60 = 5 + 20 + 35: with only the 5 hidden, 60 − 20 − 35 would give it back.
        let r = Rule::default();
        assert_eq!(secondary(&r, &[5, 20, 35]), [true, true, false]);
        // Two hidden already: neither can be recovered alone.
        assert_eq!(secondary(&r, &[5, 6, 35]), [true, true, false]);
        assert_eq!(secondary(&r, &[0, 20, 35]), [false, false, false]);
        // Zeros are not used to protect a cell (a published zero protects nothing).
        assert_eq!(secondary(&r, &[3, 0, 35]), [true, false, true]);
    }
}
