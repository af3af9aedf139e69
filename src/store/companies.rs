//! Companies and departments: the tenancy boundary.

use chrono::{DateTime, Utc};
use futures::FutureExt;
use sqlx::PgConnection;
use uuid::Uuid;

use super::{Actor, Store, StoreError};
use crate::domain::{Company, Department, Page, SetupCompany};

/// The companies `--sample-data` loads (`store/sample_data.sql`), in the order the setup page
/// offers them: the first is where a first admin who names no company goes.
pub const SAMPLE_COMPANIES: [&str; 3] = ["Acme Manufacturing", "Globex Retail", "Initech Software"];

/// Sample companies first (in their order), then the oldest. `$1` binds [`SAMPLE_COMPANIES`].
const COMPANY_ORDER: &str = "array_position($1::text[], c.name) nulls last, c.created_at, c.name";

/// Companies listed in messages and on the setup page.
const MAX_LISTED: i64 = 50;

#[derive(sqlx::FromRow)]
struct CompanyRow {
    id: Uuid,
    name: String,
    created_at: DateTime<Utc>,
}

impl From<CompanyRow> for Company {
    fn from(row: CompanyRow) -> Self {
        Company {
            id: row.id,
            name: row.name,
            created_at: row.created_at,
        }
    }
}

#[derive(sqlx::FromRow)]
struct DepartmentRow {
    id: Uuid,
    company_id: Uuid,
    name: String,
    created_at: DateTime<Utc>,
}

impl From<DepartmentRow> for Department {
    fn from(row: DepartmentRow) -> Self {
        Department {
            id: row.id,
            company_id: row.company_id,
            name: row.name,
            created_at: row.created_at,
        }
    }
}

/// Finds the company with this name, creating it when missing.
pub(super) async fn upsert_company(conn: &mut PgConnection, name: &str) -> Result<Company, StoreError> {
    let row: CompanyRow = sqlx::query_as(
        "insert into public.companies (name) values ($1)
         on conflict (name) do update set name = excluded.name
         returning id, name, created_at",
    )
    .bind(name)
    .fetch_one(conn)
    .await?;
    Ok(row.into())
}

impl Store {
    pub async fn find_or_create_company(&self, name: String) -> Result<Company, StoreError> {
        self.run_as(Actor::System, move |conn| {
            async move { upsert_company(conn, &name).await }.boxed()
        })
        .await
    }

    /// Where a user goes when no company is named: the company of the first admin; before any
    /// admin exists, the first sample company, else the oldest company; `None` when none exists.
    pub async fn default_company(&self) -> Result<Option<Company>, StoreError> {
        self.run_as(Actor::System, |conn| {
            async move {
                let row: Option<CompanyRow> = sqlx::query_as(&format!(
                    "select c.id, c.name, c.created_at from public.companies c
                       left join public.users u on u.company_id = c.id and u.role = 'admin'
                      order by u.created_at nulls last, {COMPANY_ORDER}
                      limit 1"
                ))
                .bind(SAMPLE_COMPANIES.to_vec())
                .fetch_optional(conn)
                .await?;
                Ok(row.map(Company::from))
            }
            .boxed()
        })
        .await
    }

    /// The company with this name: the exact name, or else the only one that differs from it in
    /// case alone.
    pub async fn find_company(&self, name: String) -> Result<Option<Company>, StoreError> {
        self.run_as(Actor::System, move |conn| {
            async move {
                let rows: Vec<CompanyRow> = sqlx::query_as(
                    "select id, name, created_at from public.companies
                      where lower(name) = lower($1)
                      order by name = $1 desc, name
                      limit 2",
                )
                .bind(&name)
                .fetch_all(conn)
                .await?;
                let exact = rows.first().is_some_and(|row| row.name == name);
                Ok(if exact || rows.len() == 1 {
                    rows.into_iter().next().map(Company::from)
                } else {
                    None
                })
            }
            .boxed()
        })
        .await
    }

    /// Every company with its number of KPIs, sample companies first: what the setup page
    /// offers (the platform's view, for the moment before any user exists).
    pub async fn all_companies(&self) -> Result<Vec<SetupCompany>, StoreError> {
        self.run_as(Actor::System, |conn| {
            async move {
                let rows: Vec<(String, i64)> = sqlx::query_as(&format!(
                    "select c.name, (select count(*) from public.kpis k where k.company_id = c.id)
                       from public.companies c
                      order by {COMPANY_ORDER}
                      limit {MAX_LISTED}"
                ))
                .bind(SAMPLE_COMPANIES.to_vec())
                .fetch_all(conn)
                .await?;
                Ok(rows
                    .into_iter()
                    .map(|(name, kpis)| SetupCompany {
                        sample: SAMPLE_COMPANIES.contains(&name.as_str()),
                        name,
                        kpis,
                    })
                    .collect())
            }
            .boxed()
        })
        .await
    }

    /// The sample companies that exist (those `--sample-data` loaded), in their order.
    pub async fn sample_companies(&self) -> Result<Vec<String>, StoreError> {
        self.run_as(Actor::System, |conn| {
            async move {
                let names: Vec<String> = sqlx::query_scalar(
                    "select c.name from public.companies c
                      where c.name = any($1::text[])
                      order by array_position($1::text[], c.name)",
                )
                .bind(SAMPLE_COMPANIES.to_vec())
                .fetch_all(conn)
                .await?;
                Ok(names)
            }
            .boxed()
        })
        .await
    }

    /// The companies `actor` may see (RLS: their own).
    pub async fn list_companies(&self, actor: Actor, page: Page) -> Result<Vec<Company>, StoreError> {
        self.run_as(actor, move |conn| {
            async move {
                let rows: Vec<CompanyRow> = sqlx::query_as(
                    "select id, name, created_at from public.companies order by name limit $1 offset $2",
                )
                .bind(page.limit)
                .bind(page.offset)
                .fetch_all(conn)
                .await?;
                Ok(rows.into_iter().map(Company::from).collect())
            }
            .boxed()
        })
        .await
    }

    pub async fn get_company(&self, actor: Actor, id: Uuid) -> Result<Company, StoreError> {
        self.run_as(actor, move |conn| {
            async move {
                let row: CompanyRow =
                    sqlx::query_as("select id, name, created_at from public.companies where id = $1")
                        .bind(id)
                        .fetch_one(conn)
                        .await?;
                Ok(row.into())
            }
            .boxed()
        })
        .await
    }

    pub async fn list_departments(
        &self,
        actor: Actor,
        company_id: Uuid,
        page: Page,
    ) -> Result<Vec<Department>, StoreError> {
        self.run_as(actor, move |conn| {
            async move {
                let rows: Vec<DepartmentRow> = sqlx::query_as(
                    "select id, company_id, name, created_at from public.departments
                     where company_id = $1 order by name limit $2 offset $3",
                )
                .bind(company_id)
                .bind(page.limit)
                .bind(page.offset)
                .fetch_all(conn)
                .await?;
                Ok(rows.into_iter().map(Department::from).collect())
            }
            .boxed()
        })
        .await
    }

    /// Creates a department as `actor` (RLS: admins of that company only).
    pub async fn create_department(
        &self,
        actor: Actor,
        company_id: Uuid,
        name: String,
    ) -> Result<Department, StoreError> {
        self.run_as(actor, move |conn| {
            async move {
                let row: DepartmentRow = sqlx::query_as(
                    "insert into public.departments (company_id, name) values ($1, $2)
                     returning id, company_id, name, created_at",
                )
                .bind(company_id)
                .bind(name)
                .fetch_one(conn)
                .await?;
                Ok(row.into())
            }
            .boxed()
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::SAMPLE_COMPANIES;

    #[test]
    fn the_sample_companies_are_those_the_sample_data_loads() {
        let sql = include_str!("sample_data.sql");
        for name in SAMPLE_COMPANIES {
            assert!(
                sql.contains(&format!("('{name}')")),
                "{name} missing in sample_data.sql"
            );
        }
    }
}
