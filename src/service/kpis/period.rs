//! Period keywords (`last_quarter`) and explicit dates, resolved against a given "today".
//! Pure functions: the service passes the current date, tests a fixed one.
//!
//! "Last" periods are the last COMPLETE ones: on 2026-11-24, `last_quarter` is 2026-07-01 to
//! 2026-09-30 and `last_12_months` is 2025-11-01 to 2026-10-31. "This" periods are the calendar
//! period containing today, to its end (months after today simply have no data yet).

use chrono::{Datelike, Months, NaiveDate};

use crate::domain::DateRange;
use crate::service::ServiceError;

/// The keywords, as the tools' schemas and the API list them.
pub const KEYWORDS: [&str; 9] = [
    "last_month",
    "last_quarter",
    "last_year",
    "last_3_months",
    "last_6_months",
    "last_12_months",
    "this_month",
    "this_quarter",
    "this_year",
];

/// The widest range one request may ask for: bounds every result set.
const MAX_YEARS: i32 = 10;

/// What the caller asked for: a keyword, or `from`/`to` dates (`YYYY-MM-DD` or `YYYY-MM`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PeriodQuery {
    pub period: Option<String>,
    pub from: Option<String>,
    pub to: Option<String>,
}

/// Resolves `query` against `today`; `default` is the keyword used when nothing is given.
/// `from` moves to the first day of its month (KPI months are keyed by their first day).
pub fn resolve(query: &PeriodQuery, today: NaiveDate, default: &str) -> Result<DateRange, ServiceError> {
    let given = |v: &Option<String>| {
        v.as_deref()
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
    };
    let (period, from, to) = (given(&query.period), given(&query.from), given(&query.to));
    if period.is_some() && (from.is_some() || to.is_some()) {
        return Err(ServiceError::invalid(
            "period",
            "give either a period keyword or from/to dates, not both",
        ));
    }
    if from.is_none() && to.is_none() {
        let keyword = period.as_deref().unwrap_or(default);
        return keyword_range(keyword, today).ok_or_else(|| {
            ServiceError::invalid(
                "period",
                format!("unknown period `{keyword}`; use one of: {}", KEYWORDS.join(", ")),
            )
        });
    }
    let to = match to {
        Some(to) => parse_date("to", &to, Edge::End)?,
        None => today,
    };
    let from = match from {
        Some(from) => parse_date("from", &from, Edge::Start)?,
        None => month_start(to) - Months::new(11),
    };
    let from = month_start(from);
    if from > to {
        return Err(ServiceError::invalid(
            "from",
            format!("from ({from}) is after to ({to})"),
        ));
    }
    if to.year() - from.year() > MAX_YEARS {
        return Err(ServiceError::invalid(
            "to",
            format!("the range spans more than {MAX_YEARS} years; ask for a shorter one"),
        ));
    }
    Ok(DateRange { from, to })
}

/// The range a keyword names on `today`, or `None` for an unknown keyword.
pub fn keyword_range(keyword: &str, today: NaiveDate) -> Option<DateRange> {
    let month = month_start(today);
    let quarter = quarter_start(today);
    let year = NaiveDate::from_ymd_opt(today.year(), 1, 1)?;
    let (from, months) = match keyword {
        "this_month" => (month, 1),
        "last_month" => (month - Months::new(1), 1),
        "this_quarter" => (quarter, 3),
        "last_quarter" => (quarter - Months::new(3), 3),
        "this_year" => (year, 12),
        "last_year" => (year - Months::new(12), 12),
        "last_3_months" => (month - Months::new(3), 3),
        "last_6_months" => (month - Months::new(6), 6),
        "last_12_months" => (month - Months::new(12), 12),
        _ => return None,
    };
    Some(DateRange {
        from,
        to: (from + Months::new(months)).pred_opt()?,
    })
}

/// A short human name for a range: `2026-Q3`, `2026`, `2026-09`, or `2025-11-01 to 2026-10-31`.
pub fn label(range: DateRange) -> String {
    let DateRange { from, to } = range;
    let whole_months = |n: u32| from.day() == 1 && (from + Months::new(n)).pred_opt() == Some(to);
    if from.month() == 1 && whole_months(12) {
        format!("{}", from.year())
    } else if from.month0() % 3 == 0 && whole_months(3) {
        format!("{}-Q{}", from.year(), from.month0() / 3 + 1)
    } else if whole_months(1) {
        from.format("%Y-%m").to_string()
    } else {
        format!("{from} to {to}")
    }
}

pub fn month_start(date: NaiveDate) -> NaiveDate {
    date.with_day(1).unwrap_or(date)
}

fn quarter_start(date: NaiveDate) -> NaiveDate {
    let month = date.month0() / 3 * 3 + 1;
    NaiveDate::from_ymd_opt(date.year(), month, 1).unwrap_or(date)
}

#[derive(Clone, Copy)]
enum Edge {
    Start,
    End,
}

/// `YYYY-MM-DD`, or `YYYY-MM` (its first day for a start, its last day for an end).
fn parse_date(field: &'static str, raw: &str, edge: Edge) -> Result<NaiveDate, ServiceError> {
    let bad = || {
        ServiceError::invalid(
            field,
            format!("{field} must be a date like 2026-01-31 (or a month like 2026-01), not {raw:?}"),
        )
    };
    let date = if let Ok(date) = NaiveDate::parse_from_str(raw, "%Y-%m-%d") {
        date
    } else {
        let first = NaiveDate::parse_from_str(&format!("{raw}-01"), "%Y-%m-%d").map_err(|_| bad())?;
        match edge {
            Edge::Start => first,
            Edge::End => (first + Months::new(1)).pred_opt().ok_or_else(bad)?,
        }
    };
    if !(1900..=2200).contains(&date.year()) {
        return Err(ServiceError::invalid(
            field,
            format!("{field} must be between the years 1900 and 2200"),
        ));
    }
    Ok(date)
}

#[cfg(test)]
mod tests;
