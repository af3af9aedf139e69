//! Companies and departments: the tenancy boundary.

use chrono::{DateTime, Utc};
use futures::FutureExt;
use sqlx::PgConnection;
use uuid::Uuid;

use super::{Actor, Store, StoreError};
use crate::domain::{Company, Department, Page};

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

    /// The oldest company, if any: where users go when none is named.
    pub async fn first_company(&self) -> Result<Option<Company>, StoreError> {
        self.run_as(Actor::System, |conn| {
            async move {
                let row: Option<CompanyRow> = sqlx::query_as(
                    "select id, name, created_at from public.companies order by created_at, id limit 1",
                )
                .fetch_optional(conn)
                .await?;
                Ok(row.map(Company::from))
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
