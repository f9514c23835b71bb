//! Budget periods: a calendar month in UTC, or from `budget.resetDay` to the same
//! day of the next month. Dates are computed here from Unix time with the civil
//! calendar algorithm, so no time-zone database is needed.

/// A period `[start, end)` in Unix seconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Period {
    pub start: i64,
    pub end: i64,
}

const SECONDS_PER_DAY: i64 = 86_400;

impl Period {
    /// The period that holds `now`, for periods starting on `reset_day` (1 to 28).
    pub fn containing(now: i64, reset_day: u32) -> Period {
        let (year, month, day) = civil_from_days(now.div_euclid(SECONDS_PER_DAY));
        let (start_year, start_month) = if day >= reset_day {
            (year, month)
        } else {
            previous_month(year, month)
        };
        let (end_year, end_month) = next_month(start_year, start_month);
        Period {
            start: days_from_civil(start_year, start_month, reset_day) * SECONDS_PER_DAY,
            end: days_from_civil(end_year, end_month, reset_day) * SECONDS_PER_DAY,
        }
    }

    pub fn contains(&self, at: i64) -> bool {
        (self.start..self.end).contains(&at)
    }
}

/// Seconds since the Unix epoch, now.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|elapsed| elapsed.as_secs() as i64)
        .unwrap_or(0)
}

/// `2026-12-04T15:20:11Z`.
pub fn rfc3339(at: i64) -> String {
    let (year, month, day) = civil_from_days(at.div_euclid(SECONDS_PER_DAY));
    let seconds = at.rem_euclid(SECONDS_PER_DAY);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        seconds / 3600,
        seconds / 60 % 60,
        seconds % 60
    )
}

fn next_month(year: i64, month: u32) -> (i64, u32) {
    if month == 12 {
        (year + 1, 1)
    } else {
        (year, month + 1)
    }
}

fn previous_month(year: i64, month: u32) -> (i64, u32) {
    if month == 1 {
        (year - 1, 12)
    } else {
        (year, month - 1)
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date. Years are counted in
/// 400-year eras starting in March, so leap days fall at the end of a year.
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month_from_march = (i64::from(month) + 9) % 12;
    let day_of_year = (153 * month_from_march + 2) / 5 + i64::from(day) - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// The date of a day count from [`days_from_civil`]; its inverse.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let shifted = days + 719_468;
    let era = shifted.div_euclid(146_097);
    let day_of_era = shifted - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * month_from_march + 2) / 5 + 1) as u32;
    let month = if month_from_march < 10 {
        month_from_march + 3
    } else {
        month_from_march - 9
    } as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(date: &str) -> i64 {
        let parts: Vec<i64> = date.split('-').map(|p| p.parse().unwrap()).collect();
        days_from_civil(parts[0], parts[1] as u32, parts[2] as u32) * SECONDS_PER_DAY
    }

    #[test]
    fn dates_round_trip_through_day_counts() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        for days in (-800_000..800_000).step_by(997) {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
        assert_eq!(civil_from_days(days_from_civil(2024, 2, 29)), (2024, 2, 29));
    }

    #[test]
    fn a_period_is_a_calendar_month_by_default() {
        let period = Period::containing(at("2026-12-04") + 3600 * 15, 1);
        assert_eq!(rfc3339(period.start), "2026-12-01T00:00:00Z");
        assert_eq!(rfc3339(period.end), "2027-01-01T00:00:00Z");
        let last_second = Period::containing(at("2027-01-01") - 1, 1);
        assert_eq!(last_second, period);
        let february = Period::containing(at("2028-02-29"), 1);
        assert_eq!(rfc3339(february.end), "2028-03-01T00:00:00Z");
    }

    #[test]
    fn reset_day_moves_the_start() {
        let before = Period::containing(at("2026-12-04"), 15);
        assert_eq!(rfc3339(before.start), "2026-11-15T00:00:00Z");
        assert_eq!(rfc3339(before.end), "2026-12-15T00:00:00Z");
        let on = Period::containing(at("2026-12-15"), 15);
        assert_eq!(rfc3339(on.start), "2026-12-15T00:00:00Z");
        let january = Period::containing(at("2027-01-03"), 28);
        assert_eq!(rfc3339(january.start), "2026-12-28T00:00:00Z");
        assert!(january.contains(at("2027-01-27")));
        assert!(!january.contains(at("2027-01-28")));
    }

    #[test]
    fn timestamps_are_rfc3339_in_utc() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_796_397_216), "2026-12-04T15:13:36Z");
    }
}
