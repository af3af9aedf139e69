//! The runtime role: what users' transactions log in as (see [`super::Privilege`]). On
//! external Postgres the operator gives it (`DATABASE_URL`) and the owner checks it at start-up;
//! on the embedded database it is made here.

use sqlx::PgPool;

use super::{EMBEDDED_RUNTIME_ROLE, StoreError};

/// The roles a runtime role may be a member of: the ones its transactions become.
const ALLOWED_MEMBERSHIPS: [&str; 2] = ["authenticated", "anon"];

/// What the owner reads of the runtime role before serving anyone.
#[derive(Debug, sqlx::FromRow)]
struct RuntimeRole {
    name: String,
    /// Which of SUPERUSER, BYPASSRLS and CREATEROLE it has.
    powers: Vec<String>,
    /// Objects of this database it owns (tables, schemas, functions, the database itself).
    owned: i64,
    /// Roles it is a member of besides `authenticated` and `anon` (directly or through others).
    other_roles: Vec<String>,
    in_authenticated: bool,
}

/// Refuses to serve with a runtime role that could reach more than `authenticated` can, and
/// makes it a member of `authenticated` when it is not one yet.
pub(super) async fn check_runtime_login(owner: &PgPool, runtime: &PgPool) -> Result<(), StoreError> {
    let refuse = |why: String| Err(StoreError::RuntimeRole(why));
    let runtime_name: String = sqlx::query_scalar("select current_user::text")
        .fetch_one(runtime)
        .await?;
    let owner_name: String = sqlx::query_scalar("select current_user::text")
        .fetch_one(owner)
        .await?;
    if runtime_name == owner_name {
        return refuse(format!(
            "DATABASE_URL and AGENTBOX_DATABASE_OWNER_URL both log in as {runtime_name}; DATABASE_URL must name \
             a role that owns nothing (see docs/operations.md)"
        ));
    }
    let role = read_role(owner, &runtime_name).await?;
    if !role.powers.is_empty() {
        return refuse(format!(
            "{} has {}; DATABASE_URL must name a role created with NOSUPERUSER NOBYPASSRLS NOCREATEROLE",
            role.name,
            role.powers.join(", ")
        ));
    }
    if role.owned > 0 {
        return refuse(format!(
            "{} owns {} objects of this database; the tables belong to the owner (AGENTBOX_DATABASE_OWNER_URL) \
             and the runtime role owns nothing",
            role.name, role.owned
        ));
    }
    if !role.other_roles.is_empty() {
        return refuse(format!(
            "{} is a member of {}; the runtime role may be a member of authenticated only (revoke the others)",
            role.name,
            role.other_roles.join(", ")
        ));
    }
    if !role.in_authenticated {
        grant_authenticated(owner, &role.name).await?;
    }
    Ok(())
}

async fn read_role(owner: &PgPool, name: &str) -> Result<RuntimeRole, StoreError> {
    Ok(sqlx::query_as(
        "select r.rolname::text as name, \
                array_remove(array[case when r.rolsuper then 'SUPERUSER' end, \
                                   case when r.rolbypassrls then 'BYPASSRLS' end, \
                                   case when r.rolcreaterole then 'CREATEROLE' end], null) as powers, \
                (select count(*) from pg_catalog.pg_class where relowner = r.oid) \
                + (select count(*) from pg_catalog.pg_namespace where nspowner = r.oid) \
                + (select count(*) from pg_catalog.pg_proc where proowner = r.oid) \
                + (select count(*) from pg_catalog.pg_database \
                   where datdba = r.oid and datname = pg_catalog.current_database()) as owned, \
                array(select m.rolname::text from pg_catalog.pg_roles m \
                      where m.oid <> r.oid and pg_catalog.pg_has_role(r.oid, m.oid, 'MEMBER') \
                        and m.rolname <> all($2) order by 1) as other_roles, \
                pg_catalog.pg_has_role(r.oid, 'authenticated', 'MEMBER') as in_authenticated \
         from pg_catalog.pg_roles r where r.rolname = $1",
    )
    .bind(name)
    .bind(&ALLOWED_MEMBERSHIPS[..])
    .fetch_one(owner)
    .await?)
}

/// `GRANT authenticated TO name`, tolerating a replica that did it a moment before.
async fn grant_authenticated(owner: &PgPool, name: &str) -> Result<(), StoreError> {
    let grant = sqlx::query(&format!("grant authenticated to {}", quote_ident(name)))
        .execute(owner)
        .await;
    match grant {
        Ok(_) => Ok(()),
        Err(err) => {
            let granted: bool =
                sqlx::query_scalar("select pg_catalog.pg_has_role($1, 'authenticated', 'MEMBER')")
                    .bind(name)
                    .fetch_one(owner)
                    .await?;
            if granted {
                Ok(())
            } else {
                Err(StoreError::RuntimeRole(format!(
                    "{name} is not a member of authenticated and the owner cannot grant it ({err}); \
                     run GRANT authenticated TO {name} as a role that may"
                )))
            }
        }
    }
}

/// The embedded database's runtime role: no login (pglite has one session, see
/// [`super::Privilege::SessionAuthorization`]), no privileges of its own, a member of
/// `authenticated` only.
pub(super) async fn ensure_embedded_runtime_role(owner: &PgPool) -> Result<(), StoreError> {
    sqlx::raw_sql(&format!(
        "do $$ begin
             if not exists (select 1 from pg_catalog.pg_roles where rolname = '{EMBEDDED_RUNTIME_ROLE}') then
                 create role {EMBEDDED_RUNTIME_ROLE} nologin noinherit nosuperuser nobypassrls nocreaterole nocreatedb;
             end if;
             if not pg_catalog.pg_has_role('{EMBEDDED_RUNTIME_ROLE}', 'authenticated', 'MEMBER') then
                 grant authenticated to {EMBEDDED_RUNTIME_ROLE};
             end if;
         end $$"
    ))
    .execute(owner)
    .await?;
    Ok(())
}

/// A role name as a quoted SQL identifier.
fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

#[cfg(test)]
mod tests {
    use super::quote_ident;

    #[test]
    fn role_names_are_quoted_whole() {
        assert_eq!(quote_ident("agentbox_runtime"), "\"agentbox_runtime\"");
        assert_eq!(quote_ident("we\"ird; drop"), "\"we\"\"ird; drop\"");
    }
}
