use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

/// How a KPI's months roll up into a longer period.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Aggregation {
    Sum,
    Avg,
    /// The value of the latest month (stocks such as headcount).
    Last,
}

impl Aggregation {
    pub fn as_str(self) -> &'static str {
        match self {
            Aggregation::Sum => "sum",
            Aggregation::Avg => "avg",
            Aggregation::Last => "last",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        [Aggregation::Sum, Aggregation::Avg, Aggregation::Last]
            .into_iter()
            .find(|a| a.as_str() == value)
    }
}

/// The length of one point of a KPI series.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Granularity {
    Month,
    Quarter,
}

impl Granularity {
    pub const ALL: [Granularity; 2] = [Granularity::Month, Granularity::Quarter];

    pub fn as_str(self) -> &'static str {
        match self {
            Granularity::Month => "month",
            Granularity::Quarter => "quarter",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|g| g.as_str() == value)
    }
}

/// A KPI as its company's members see it.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Kpi {
    pub id: Uuid,
    pub name: String,
    pub unit: String,
    pub description: String,
    /// `None`: a company-wide KPI.
    pub department_id: Option<Uuid>,
    pub department: Option<String>,
    pub higher_is_better: bool,
    pub aggregation: Aggregation,
    /// First and last month with a value (`None` when it has none yet).
    pub first_period: Option<NaiveDate>,
    pub last_period: Option<NaiveDate>,
}

/// What KPI data the caller sees, and where the sample data is: enough for the dashboard to
/// say what to do when there is nothing to show.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct KpiOverview {
    /// The caller's company (`None`: the account belongs to no company).
    pub company: Option<String>,
    /// How many KPIs the caller can see.
    pub kpis: i64,
    /// The sample companies loaded by `--sample-data` (empty when it was not used), in order.
    pub sample_companies: Vec<String>,
}

/// An inclusive range of days; KPI months whose first day falls inside it belong to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
pub struct DateRange {
    pub from: NaiveDate,
    pub to: NaiveDate,
}

/// One point of a KPI series: the KPI's months in one bucket, rolled up by its aggregation.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct KpiPoint {
    pub kpi_id: Uuid,
    /// First day of the bucket (month or quarter).
    pub period: NaiveDate,
    /// `None` when the bucket has no value (or no target) yet.
    pub value: Option<f64>,
    pub target: Option<f64>,
    /// Months of the bucket that have a value (a quarter in progress has fewer than 3).
    pub months: i64,
}

/// A KPI's actual against its target over a period: only months that have both count.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct KpiPerformance {
    pub kpi_id: Uuid,
    pub kpi: String,
    pub department: Option<String>,
    pub unit: String,
    pub higher_is_better: bool,
    pub aggregation: Aggregation,
    /// Months with both a value and a target inside the period.
    pub months: i64,
    pub actual: f64,
    pub target: f64,
    /// `actual - target`.
    pub difference: f64,
    /// `actual / target * 100`; `None` when the target is zero.
    pub percent_of_target: Option<f64>,
    /// `actual >= target` when higher is better, `actual <= target` otherwise.
    pub met: bool,
}

impl KpiPerformance {
    /// Fills `difference`, `percent_of_target` and `met` from `actual` and `target`.
    #[must_use]
    pub fn compared(mut self) -> Self {
        self.met = if self.higher_is_better {
            self.actual >= self.target
        } else {
            self.actual <= self.target
        };
        self.difference = round_to(self.actual - self.target, 4);
        self.percent_of_target = (self.target != 0.0).then(|| round_to(self.actual / self.target * 100.0, 2));
        self
    }
}

fn round_to(value: f64, decimals: i32) -> f64 {
    let scale = 10_f64.powi(decimals);
    (value * scale).round() / scale
}

/// The rows of a read-only query, as JSON objects.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QueryRows {
    pub rows: Vec<serde_json::Value>,
    /// More rows existed than the cap allowed.
    pub truncated: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn performance(higher_is_better: bool, actual: f64, target: f64) -> KpiPerformance {
        KpiPerformance {
            kpi_id: Uuid::nil(),
            kpi: "Revenue".into(),
            department: None,
            unit: "USD".into(),
            higher_is_better,
            aggregation: Aggregation::Sum,
            months: 3,
            actual,
            target,
            difference: 0.0,
            percent_of_target: None,
            met: false,
        }
        .compared()
    }

    #[test]
    #[allow(clippy::float_cmp)] // the results are rounded: exact equality is the point
    fn met_depends_on_the_direction() {
        let above = performance(true, 110.0, 100.0);
        assert!(above.met);
        assert_eq!(above.difference, 10.0);
        assert_eq!(above.percent_of_target, Some(110.0));
        assert!(performance(true, 100.0, 100.0).met, "exactly on target is met");
        assert!(!performance(true, 99.5, 100.0).met);
        // Costs and churn: lower is better.
        assert!(performance(false, 90.0, 100.0).met);
        assert!(!performance(false, 100.01, 100.0).met);
        let zero = performance(true, 5.0, 0.0);
        assert_eq!(zero.percent_of_target, None);
        assert_eq!(
            performance(true, 3_703_701.36, 3_600_000.5).difference,
            103_700.86
        );
    }

    #[test]
    fn names_round_trip() {
        for g in Granularity::ALL {
            assert_eq!(Granularity::parse(g.as_str()), Some(g));
        }
        assert_eq!(Aggregation::parse("last"), Some(Aggregation::Last));
        assert_eq!(Granularity::parse("week"), None);
    }
}
