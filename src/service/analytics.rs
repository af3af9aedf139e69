//! Usage analytics for the dashboard: requests, tokens, latency and TTFT percentiles, ratings,
//! per model, agent, user or day. Visibility is the database's: an admin sees the company's
//! calls, a member their own.

use chrono::{Days, NaiveDate, Utc};

use super::ServiceError;
use crate::domain::{DayRange, Identity, UsageGroup, UsageReport, UsageSummary};
use crate::store::{Actor, Store};

/// The window when none is asked for: the last 30 days, today included.
pub const DEFAULT_DAYS: u64 = 30;
/// The longest window: a year, leap day included.
pub const MAX_DAYS: u64 = 366;

#[derive(Debug, Clone)]
pub struct AnalyticsService {
    store: Store,
}

impl AnalyticsService {
    pub fn new(store: Store) -> Self {
        Self { store }
    }

    pub async fn usage(
        &self,
        caller: &Identity,
        group_by: UsageGroup,
        from: Option<NaiveDate>,
        to: Option<NaiveDate>,
    ) -> Result<UsageReport, ServiceError> {
        let range = day_range(from, to, Utc::now().date_naive())?;
        let rows = self
            .store
            .usage(Actor::User(caller.user_id()), group_by, range)
            .await?;
        Ok(UsageReport {
            group_by,
            range,
            rows,
        })
    }

    pub async fn summary(
        &self,
        caller: &Identity,
        from: Option<NaiveDate>,
        to: Option<NaiveDate>,
    ) -> Result<UsageSummary, ServiceError> {
        let range = day_range(from, to, Utc::now().date_naive())?;
        Ok(self
            .store
            .usage_summary(Actor::User(caller.user_id()), range)
            .await?)
    }
}

/// The window asked for, completed with defaults: `to` is today, `from` the 30 days up to `to`.
pub fn day_range(
    from: Option<NaiveDate>,
    to: Option<NaiveDate>,
    today: NaiveDate,
) -> Result<DayRange, ServiceError> {
    let to = to.unwrap_or(today);
    let from = match from {
        Some(from) => from,
        None => to
            .checked_sub_days(Days::new(DEFAULT_DAYS - 1))
            .unwrap_or(NaiveDate::MIN),
    };
    if from > to {
        return Err(ServiceError::invalid(
            "from",
            format!("from ({from}) must not be after to ({to})"),
        ));
    }
    let days = (to - from).num_days() + 1;
    if days.unsigned_abs() > MAX_DAYS {
        return Err(ServiceError::invalid(
            "to",
            format!("the range covers {days} days; at most {MAX_DAYS} are allowed"),
        ));
    }
    Ok(DayRange { from, to })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(text: &str) -> NaiveDate {
        text.parse().unwrap()
    }

    #[test]
    fn the_default_window_is_the_last_30_days() {
        let range = day_range(None, None, date("2026-03-10")).unwrap();
        assert_eq!((range.from, range.to), (date("2026-02-09"), date("2026-03-10")));
        let range = day_range(None, Some(date("2026-01-31")), date("2026-03-10")).unwrap();
        assert_eq!(range.from, date("2026-01-02"));
        let range = day_range(Some(date("2026-03-01")), None, date("2026-03-10")).unwrap();
        assert_eq!((range.from, range.to), (date("2026-03-01"), date("2026-03-10")));
    }

    #[test]
    fn from_after_to_is_refused() {
        let err = day_range(
            Some(date("2026-03-02")),
            Some(date("2026-03-01")),
            date("2026-03-10"),
        )
        .unwrap_err();
        assert!(
            matches!(err, ServiceError::InvalidInput { field: "from", .. }),
            "{err:?}"
        );
        // One day is fine.
        day_range(
            Some(date("2026-03-01")),
            Some(date("2026-03-01")),
            date("2026-03-10"),
        )
        .unwrap();
    }

    #[test]
    fn at_most_366_days() {
        let today = date("2026-03-10");
        day_range(Some(date("2024-01-01")), Some(date("2024-12-31")), today).unwrap();
        let err = day_range(Some(date("2024-01-01")), Some(date("2025-01-01")), today).unwrap_err();
        assert!(
            matches!(err, ServiceError::InvalidInput { field: "to", .. }),
            "{err:?}"
        );
    }
}
