//! `agentbox user create|passwd`.

use std::io::Read;

use super::{CliError, UserCreateArgs, UserPasswdArgs};
use crate::config::Settings;
use crate::domain::Role;
use crate::service::companies::CompanyChoice;
use crate::service::users::CreateUser;
use crate::service::users::UserService;

/// Reads a password from standard input: the first line, without its line ending.
fn read_password() -> Result<String, CliError> {
    let mut input = String::new();
    std::io::stdin()
        .take(8192)
        .read_to_string(&mut input)
        .map_err(|err| CliError::Usage(format!("cannot read the password from standard input: {err}")))?;
    let password = input.lines().next().unwrap_or_default().to_owned();
    if password.is_empty() {
        return Err(CliError::Usage("no password on standard input".into()));
    }
    Ok(password)
}

pub async fn create(settings: Settings, args: UserCreateArgs) -> Result<(), CliError> {
    let password = read_password()?;
    let (_lock, store) = crate::app::open_store(&settings).await?;
    let users = UserService::new(store.clone());
    let request = CreateUser {
        email: args.email,
        password,
        display_name: args.display_name,
        role: if args.admin { Role::Admin } else { Role::Member },
        department_id: None,
    };
    let company = match args.company {
        None => CompanyChoice::Default,
        Some(name) if args.create_company => CompanyChoice::ExistingOrNew(name),
        Some(name) => CompanyChoice::Existing(name),
    };
    let result = users.create_from_cli(request, company).await;
    store.close().await;
    let (user, company) = result?;
    println!(
        "created {} {} ({}) in {}",
        user.role.as_str(),
        user.email,
        user.id,
        company.name
    );
    Ok(())
}

pub async fn passwd(settings: Settings, args: UserPasswdArgs) -> Result<(), CliError> {
    let password = read_password()?;
    let (_lock, store) = crate::app::open_store(&settings).await?;
    let result = UserService::new(store.clone())
        .reset_password_from_cli(&args.email, password)
        .await;
    store.close().await;
    result?;
    println!(
        "password changed for {}; their sessions were ended",
        args.email.trim().to_lowercase()
    );
    Ok(())
}
