use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Company {
    pub id: Uuid,
    pub name: String,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Department {
    pub id: Uuid,
    pub company_id: Uuid,
    pub name: String,
    pub created_at: DateTime<Utc>,
}

/// A company that exists before the first admin does (the `--sample-data` companies), offered
/// on the setup page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct SetupCompany {
    pub name: String,
    /// One of the companies `--sample-data` loads.
    pub sample: bool,
    /// How many KPIs it has.
    pub kpis: i64,
}

/// Where first-run setup stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct SetupState {
    /// No user exists yet: `POST /api/v1/auth/setup` creates the first admin.
    pub setup_needed: bool,
    /// While setup is needed: the companies that already exist, the default first (the first
    /// sample company when sample data is loaded). Always empty once setup is done.
    pub companies: Vec<SetupCompany>,
}
