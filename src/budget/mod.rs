//! Money: what cloud requests cost, and the monthly cap they must stay under.
//!
//! Amounts are [`Money`], whole billionths of a dollar, so that sums are exact and
//! every rounding can go up (spend is never undercounted). [`Period`] is the budget
//! period, [`prices`] the shipped price table with the user's overrides, and
//! [`ledger`] the SQLite ledger that every aumatron process of the user shares:
//! the only place where a reservation is made or settled.
//!
//! Nothing here knows HTTP or LSP; `task::cloud` spends through it and `lsp`
//! reports it.

pub mod ledger;
pub mod period;
pub mod prices;

pub use ledger::{Ledger, Reservation, Settlement};
pub use period::Period;
pub use prices::{Price, PriceBook};

/// An amount of US dollars, in billionths.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Money(i64);

impl Money {
    pub const ZERO: Money = Money(0);
    const NANOS_PER_DOLLAR: i64 = 1_000_000_000;

    pub fn from_nanos(nanos: i64) -> Money {
        Money(nanos)
    }

    pub fn nanos(self) -> i64 {
        self.0
    }

    /// Dollars from a configured amount, rounded to the nearest billionth.
    pub fn from_dollars(dollars: f64) -> Money {
        Money((dollars * Self::NANOS_PER_DOLLAR as f64).round() as i64)
    }

    pub fn dollars(self) -> f64 {
        self.0 as f64 / Self::NANOS_PER_DOLLAR as f64
    }

    pub fn saturating_add(self, other: Money) -> Money {
        Money(self.0.saturating_add(other.0))
    }

    pub fn saturating_sub(self, other: Money) -> Money {
        Money(self.0.saturating_sub(other.0))
    }

    /// This amount plus `share` of it (0.25 for a quarter more), rounded up.
    pub fn scaled_up(self, share: f64) -> Money {
        Money((self.0 as f64 * (1.0 + share)).ceil() as i64)
    }

    /// The cost of `tokens` at `per_million` dollars per million tokens, rounded up.
    pub fn for_tokens(tokens: u64, per_million: Money) -> Money {
        let nanos = (u128::from(tokens) * per_million.0.max(0) as u128).div_ceil(1_000_000);
        Money(i64::try_from(nanos).unwrap_or(i64::MAX))
    }
}

impl std::iter::Sum for Money {
    fn sum<I: Iterator<Item = Money>>(iter: I) -> Money {
        iter.fold(Money::ZERO, Money::saturating_add)
    }
}

/// Dollars as people read them: cents for larger sums, more digits for small ones
/// so a request of a tenth of a cent does not read as `$0.00`.
impl std::fmt::Display for Money {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let dollars = self.dollars();
        let magnitude = dollars.abs();
        if magnitude >= 1.0 || magnitude == 0.0 {
            return write!(f, "${dollars:.2}");
        }
        // Two significant digits, and no trailing zeros past the cents.
        let digits = ((-magnitude.log10()).ceil() as usize + 1).max(2);
        let text = format!("{dollars:.digits$}");
        let (whole, fraction) = text.split_once('.').unwrap_or((&text, ""));
        let fraction = fraction.trim_end_matches('0');
        write!(f, "${whole}.{fraction:0<2}")
    }
}

/// Where the budget stands, for status bars and messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BudgetLevel {
    Ok,
    Warning,
    Exhausted,
    /// Cloud use is switched off (`cloud.enabled = false`).
    LocalOnly,
}

impl BudgetLevel {
    pub fn as_str(self) -> &'static str {
        match self {
            BudgetLevel::Ok => "ok",
            BudgetLevel::Warning => "warning",
            BudgetLevel::Exhausted => "exhausted",
            BudgetLevel::LocalOnly => "local-only",
        }
    }

    /// The level for `committed` (spent plus reserved) against `cap`.
    pub fn of(committed: Money, cap: Money, warn_fraction: f64, cloud_enabled: bool) -> Self {
        if !cloud_enabled {
            BudgetLevel::LocalOnly
        } else if committed >= cap {
            BudgetLevel::Exhausted
        } else if committed.dollars() >= cap.dollars() * warn_fraction {
            BudgetLevel::Warning
        } else {
            BudgetLevel::Ok
        }
    }
}

/// Whether a provider's key can be used.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyState {
    Ok,
    Missing,
    /// The provider refused it; it stays stored until replaced or removed.
    Rejected,
}

impl KeyState {
    pub fn as_str(self) -> &'static str {
        match self {
            KeyState::Ok => "ok",
            KeyState::Missing => "missing",
            KeyState::Rejected => "rejected",
        }
    }
}

/// One provider's line in the budget.
#[derive(Clone, Debug, PartialEq)]
pub struct ProviderBudget {
    pub id: String,
    pub kind: String,
    pub name: String,
    pub model: String,
    pub tags: Vec<String>,
    pub local: bool,
    pub has_key: bool,
    pub key_state: KeyState,
    pub spent: Money,
    pub requests: u64,
}

/// The whole budget, as editors show it and `aumatron-lsp budget` prints it.
#[derive(Clone, Debug, PartialEq)]
pub struct BudgetSnapshot {
    pub period: Period,
    pub cap: Money,
    pub spent: Money,
    pub reserved: Money,
    pub remaining: Money,
    pub warn_fraction: f64,
    pub level: BudgetLevel,
    pub providers: Vec<ProviderBudget>,
    pub last: Option<ledger::RequestRecord>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_costs_round_up_to_the_next_billionth() {
        let per_million = Money::from_dollars(0.40);
        assert_eq!(
            Money::for_tokens(1000, per_million),
            Money::from_dollars(0.0004)
        );
        // 1 token at $0.005 per million is 0.005 billionths... rounded up to 5.
        assert_eq!(
            Money::for_tokens(1, Money::from_dollars(0.005)),
            Money::from_nanos(5)
        );
        assert_eq!(
            Money::for_tokens(3, Money::from_dollars(0.0001)),
            Money::from_nanos(1)
        );
        assert_eq!(Money::for_tokens(0, per_million), Money::ZERO);
    }

    #[test]
    fn money_reads_well_at_every_size() {
        assert_eq!(Money::from_dollars(10.0).to_string(), "$10.00");
        assert_eq!(Money::from_dollars(1.234).to_string(), "$1.23");
        assert_eq!(Money::from_dollars(0.0421).to_string(), "$0.042");
        assert_eq!(Money::from_dollars(0.0012).to_string(), "$0.0012");
        assert_eq!(Money::from_dollars(0.000043).to_string(), "$0.000043");
        assert_eq!(Money::ZERO.to_string(), "$0.00");
        assert_eq!(Money::from_dollars(0.002).to_string(), "$0.002");
        assert_eq!(Money::from_dollars(0.1).to_string(), "$0.10");
        assert_eq!(Money::from_dollars(0.05).to_string(), "$0.05");
    }

    #[test]
    fn levels_follow_the_cap_and_the_warning_share() {
        let cap = Money::from_dollars(10.0);
        let level = |spent| BudgetLevel::of(Money::from_dollars(spent), cap, 0.8, true);
        assert_eq!(level(1.0), BudgetLevel::Ok);
        assert_eq!(level(8.0), BudgetLevel::Warning);
        assert_eq!(level(10.0), BudgetLevel::Exhausted);
        assert_eq!(
            BudgetLevel::of(Money::ZERO, cap, 0.8, false),
            BudgetLevel::LocalOnly
        );
    }
}
