use chrono::NaiveDate;

use super::{KEYWORDS, PeriodQuery, keyword_range, label, resolve};
use crate::domain::DateRange;
use crate::service::ServiceError;

fn day(s: &str) -> NaiveDate {
    s.parse().unwrap()
}

fn range(from: &str, to: &str) -> DateRange {
    DateRange {
        from: day(from),
        to: day(to),
    }
}

fn keyword(k: &str, today: &str) -> DateRange {
    keyword_range(k, day(today)).unwrap_or_else(|| panic!("{k} is a keyword"))
}

#[test]
fn last_quarter_is_the_last_complete_calendar_quarter() {
    assert_eq!(
        keyword("last_quarter", "2026-11-24"),
        range("2026-07-01", "2026-09-30")
    );
    // On the first day of a quarter the quarter just ended is complete.
    assert_eq!(
        keyword("last_quarter", "2026-10-01"),
        range("2026-07-01", "2026-09-30")
    );
    assert_eq!(
        keyword("last_quarter", "2026-09-30"),
        range("2026-04-01", "2026-06-30")
    );
    // Across the year boundary.
    assert_eq!(
        keyword("last_quarter", "2026-02-15"),
        range("2025-10-01", "2025-12-31")
    );
    assert_eq!(
        keyword("this_quarter", "2026-02-15"),
        range("2026-01-01", "2026-03-31")
    );
}

#[test]
fn months_and_years() {
    assert_eq!(
        keyword("last_month", "2026-01-10"),
        range("2025-12-01", "2025-12-31")
    );
    assert_eq!(
        keyword("last_month", "2024-03-31"),
        range("2024-02-01", "2024-02-29")
    );
    assert_eq!(
        keyword("this_month", "2026-11-24"),
        range("2026-11-01", "2026-11-30")
    );
    assert_eq!(
        keyword("last_12_months", "2026-11-24"),
        range("2025-11-01", "2026-10-31")
    );
    assert_eq!(
        keyword("last_6_months", "2026-11-24"),
        range("2026-05-01", "2026-10-31")
    );
    assert_eq!(
        keyword("last_3_months", "2026-01-05"),
        range("2025-10-01", "2025-12-31")
    );
    assert_eq!(
        keyword("this_year", "2026-11-24"),
        range("2026-01-01", "2026-12-31")
    );
    assert_eq!(
        keyword("last_year", "2026-11-24"),
        range("2025-01-01", "2025-12-31")
    );
    for k in KEYWORDS {
        assert!(keyword_range(k, day("2026-11-24")).is_some(), "{k}");
    }
    assert_eq!(keyword_range("last_week", day("2026-11-24")), None);
}

#[test]
fn labels_name_whole_periods() {
    assert_eq!(label(range("2026-07-01", "2026-09-30")), "2026-Q3");
    assert_eq!(label(range("2025-01-01", "2025-12-31")), "2025");
    assert_eq!(label(range("2024-02-01", "2024-02-29")), "2024-02");
    assert_eq!(
        label(range("2025-11-01", "2026-10-31")),
        "2025-11-01 to 2026-10-31"
    );
    assert_eq!(
        label(range("2026-08-01", "2026-10-31")),
        "2026-08-01 to 2026-10-31"
    );
}

fn query(period: Option<&str>, from: Option<&str>, to: Option<&str>) -> PeriodQuery {
    PeriodQuery {
        period: period.map(str::to_owned),
        from: from.map(str::to_owned),
        to: to.map(str::to_owned),
    }
}

fn invalid_field(result: Result<DateRange, ServiceError>) -> &'static str {
    match result {
        Err(ServiceError::InvalidInput { field, .. }) => field,
        other => panic!("expected invalid input, got {other:?}"),
    }
}

#[test]
fn explicit_dates_and_defaults() {
    let today = day("2026-11-24");
    assert_eq!(
        resolve(&query(None, None, None), today, "last_quarter").unwrap(),
        range("2026-07-01", "2026-09-30")
    );
    assert_eq!(
        resolve(&query(Some("last_year"), Some(""), None), today, "last_quarter").unwrap(),
        range("2025-01-01", "2025-12-31")
    );
    // `from` moves to the first of its month; months are accepted for both ends.
    assert_eq!(
        resolve(&query(None, Some("2025-03-15"), Some("2025-06-30")), today, "x").unwrap(),
        range("2025-03-01", "2025-06-30")
    );
    assert_eq!(
        resolve(&query(None, Some("2025-01"), Some("2025-02")), today, "x").unwrap(),
        range("2025-01-01", "2025-02-28")
    );
    // One end only: up to today, or the 12 months up to `to`.
    assert_eq!(
        resolve(&query(None, Some("2026-01-01"), None), today, "x").unwrap(),
        range("2026-01-01", "2026-11-24")
    );
    assert_eq!(
        resolve(&query(None, None, Some("2025-12-31")), today, "x").unwrap(),
        range("2025-01-01", "2025-12-31")
    );
}

#[test]
fn bad_periods_name_the_field() {
    let today = day("2026-11-24");
    assert_eq!(
        invalid_field(resolve(&query(Some("last_week"), None, None), today, "x")),
        "period"
    );
    assert_eq!(
        invalid_field(resolve(
            &query(Some("last_year"), Some("2025-01-01"), None),
            today,
            "x"
        )),
        "period"
    );
    assert_eq!(
        invalid_field(resolve(&query(None, Some("yesterday"), None), today, "x")),
        "from"
    );
    assert_eq!(
        invalid_field(resolve(&query(None, None, Some("2025-02-30")), today, "x")),
        "to"
    );
    assert_eq!(
        invalid_field(resolve(&query(None, None, Some("2025-13")), today, "x")),
        "to"
    );
    assert_eq!(
        invalid_field(resolve(
            &query(None, Some("2026-01-01"), Some("2025-01-01")),
            today,
            "x"
        )),
        "from"
    );
    assert_eq!(
        invalid_field(resolve(
            &query(None, Some("1990-01-01"), Some("2026-01-01")),
            today,
            "x"
        )),
        "to"
    );
    assert_eq!(
        invalid_field(resolve(&query(None, Some("0001-01-01"), None), today, "x")),
        "from"
    );
    // An unknown default is a bug of the caller, reported the same way.
    assert_eq!(
        invalid_field(resolve(&query(None, None, None), today, "soon")),
        "period"
    );
}
