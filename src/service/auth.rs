//! Sign-in: first-run setup, password login with throttling, browser sessions, API keys.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::Semaphore;

use super::companies::{CompanyChoice, chosen_company};
use super::error::NotFoundAs;
use super::{ServiceError, secrets, validate};
use crate::config::AuthSettings;
use crate::domain::{ApiKey, Credential, Identity, KeyScope, NewApiKey, Role, SetupState, User};
use crate::store::{Actor, LoginTurn, NewKeyRecord, NewSession, NewUser, Store};

/// API keys start with this, so leaked keys are easy to recognise and scan for.
pub const API_KEY_PREFIX: &str = "abx_";
/// Characters of a key kept in clear text for display.
const SHOWN_PREFIX_CHARS: usize = 12;
/// Last-seen timestamps are written at most this often, not on every request.
const TOUCH_INTERVAL: chrono::TimeDelta = chrono::TimeDelta::seconds(60);

/// Where a request came from, recorded with sessions and login attempts.
#[derive(Debug, Clone, Default)]
pub struct ClientInfo {
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

/// The first admin's details.
#[derive(Debug, Clone)]
pub struct SetupRequest {
    pub email: String,
    pub password: String,
    pub display_name: Option<String>,
    /// The company to join or create by name; `None`: the default company (the first sample
    /// company when sample data is loaded).
    pub company: Option<String>,
}

/// A successful sign-in: the cookie token is shown to the browser once and stored hashed.
#[derive(Debug, Clone)]
pub struct SignedIn {
    pub user: User,
    pub session_token: String,
    pub csrf_token: String,
    pub expires_at: DateTime<Utc>,
}

/// A key the caller asks for.
#[derive(Debug, Clone)]
pub struct KeyRequest {
    pub name: String,
    pub scopes: Vec<KeyScope>,
    pub expires_in_days: Option<u32>,
}

#[derive(Debug, Clone)]
pub struct AuthService {
    store: Store,
    settings: Arc<AuthSettings>,
    /// Password checks running at once: one per core.
    password_checks: Arc<Semaphore>,
}

impl AuthService {
    pub fn new(store: Store, settings: AuthSettings) -> Self {
        let cores = std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get);
        Self {
            store,
            settings: Arc::new(settings),
            password_checks: Arc::new(Semaphore::new(cores)),
        }
    }

    /// True until the first user exists.
    pub async fn setup_needed(&self) -> Result<bool, ServiceError> {
        Ok(self.store.count_users().await? == 0)
    }

    /// Whether setup is needed and, only while it is, the companies the first admin may join.
    pub async fn setup_state(&self) -> Result<SetupState, ServiceError> {
        let setup_needed = self.setup_needed().await?;
        let companies = if setup_needed {
            self.store.all_companies().await?
        } else {
            Vec::new()
        };
        Ok(SetupState {
            setup_needed,
            companies,
        })
    }

    /// Creates the first admin and signs them in. They join the company they name (made when
    /// new), or without one the default: the first sample company when sample data is loaded.
    pub async fn setup(&self, request: SetupRequest, client: ClientInfo) -> Result<SignedIn, ServiceError> {
        let email = validate::email(&request.email)?;
        validate::password(&request.password)?;
        let display_name = match request.display_name.as_deref() {
            Some(name) if !name.trim().is_empty() => validate::name("display_name", name, 100)?,
            _ => String::new(),
        };
        if !self.setup_needed().await? {
            return Err(ServiceError::AlreadySetUp);
        }
        let choice = match request.company {
            Some(name) => CompanyChoice::ExistingOrNew(name),
            None => CompanyChoice::Default,
        };
        let company = chosen_company(&self.store, choice).await?;
        let new = NewUser {
            email,
            password_hash: secrets::hash_password(request.password).await?,
            display_name,
            role: Role::Admin,
            company_id: None,
            department_id: None,
        };
        let user = self
            .store
            .create_first_admin(new, company)
            .await?
            .ok_or(ServiceError::AlreadySetUp)?;
        self.start_session(user, client).await
    }

    /// Checks email and password; repeated failures for one email are throttled.
    pub async fn login(
        &self,
        email: &str,
        password: String,
        client: ClientInfo,
    ) -> Result<SignedIn, ServiceError> {
        let email = validate::email(email).map_err(|_| ServiceError::InvalidCredentials)?;
        let turn = self
            .store
            .admit_login_attempt(
                email.clone(),
                client.ip.clone(),
                self.settings.login_window,
                self.settings.login_max_failures,
            )
            .await?;
        let attempt = match turn {
            LoginTurn::Admitted { attempt } => attempt,
            LoginTurn::Throttled { oldest_failure } => {
                let reopens = oldest_failure
                    + chrono::TimeDelta::from_std(self.settings.login_window).unwrap_or_default();
                let retry_after = (reopens - Utc::now()).to_std().unwrap_or(Duration::from_secs(1));
                return Err(ServiceError::TooManyAttempts { retry_after });
            }
        };
        let credentials = self.store.credentials_by_email(email).await?;
        let hash = credentials.as_ref().map(|c| c.password_hash.clone());
        let valid = {
            // argon2 costs ~50 ms of a core and 19 MiB: a storm of logins for many emails
            // queues here instead of taking every core and gigabytes of memory.
            let _slot = self.password_checks.acquire().await;
            secrets::verify_password(password, hash).await
        };
        if valid {
            self.store.login_succeeded(attempt).await?;
        }
        match credentials {
            Some(credentials) if valid => {
                if credentials.user.disabled {
                    return Err(ServiceError::Forbidden("this account is disabled; ask an admin"));
                }
                self.store.record_sign_in(credentials.user.id).await?;
                self.start_session(credentials.user, client).await
            }
            _ => Err(ServiceError::InvalidCredentials),
        }
    }

    async fn start_session(&self, user: User, client: ClientInfo) -> Result<SignedIn, ServiceError> {
        let session_token = secrets::random_token();
        let csrf_token = secrets::random_token();
        let ttl =
            chrono::TimeDelta::from_std(self.settings.session_ttl).unwrap_or(chrono::TimeDelta::days(7));
        let expires_at = Utc::now() + ttl;
        self.store
            .create_session(NewSession {
                user_id: user.id,
                token_hash: secrets::sha256_hex(&session_token),
                csrf_token: csrf_token.clone(),
                expires_at,
                user_agent: client.user_agent.map(|ua| ua.chars().take(300).collect()),
                ip: client.ip,
            })
            .await?;
        Ok(SignedIn {
            user,
            session_token,
            csrf_token,
            expires_at,
        })
    }

    pub async fn logout(&self, identity: &Identity) -> Result<(), ServiceError> {
        if let Credential::Session { session_id, .. } = identity.credential {
            self.store.delete_session(session_id).await?;
        }
        Ok(())
    }

    /// The identity behind a session cookie, if the session is live and the user enabled.
    pub async fn authenticate_session(&self, token: &str) -> Result<Option<Identity>, ServiceError> {
        let Some(session) = self.store.find_session(secrets::sha256_hex(token)).await? else {
            return Ok(None);
        };
        if session.user.disabled {
            return Ok(None);
        }
        if Utc::now() - session.last_seen_at > TOUCH_INTERVAL {
            self.store.touch_session(session.session_id).await?;
        }
        Ok(Some(Identity {
            user: session.user,
            credential: Credential::Session {
                session_id: session.session_id,
                csrf_token: session.csrf_token,
            },
        }))
    }

    /// The identity behind an API key, if the key is live and the user enabled.
    pub async fn authenticate_api_key(&self, key: &str) -> Result<Option<Identity>, ServiceError> {
        if !key.starts_with(API_KEY_PREFIX) || key.len() > 200 {
            return Ok(None);
        }
        let Some(found) = self.store.find_api_key(secrets::sha256_hex(key)).await? else {
            return Ok(None);
        };
        let now = Utc::now();
        let expired = found.expires_at.is_some_and(|at| at <= now);
        if found.revoked_at.is_some() || expired || found.user.disabled {
            return Ok(None);
        }
        if found.last_used_at.is_none_or(|at| now - at > TOUCH_INTERVAL) {
            self.store.touch_api_key(found.key_id).await?;
        }
        Ok(Some(Identity {
            user: found.user,
            credential: Credential::ApiKey {
                key_id: found.key_id,
                scopes: found.scopes,
            },
        }))
    }

    /// Makes an API key for the caller; the secret is returned this once.
    pub async fn create_api_key(
        &self,
        identity: &Identity,
        request: KeyRequest,
    ) -> Result<NewApiKey, ServiceError> {
        let name = validate::name("name", &request.name, 100)?;
        let mut scopes = request.scopes;
        scopes.sort_by_key(|scope| scope.as_str());
        scopes.dedup();
        if scopes.is_empty() {
            return Err(ServiceError::invalid(
                "scopes",
                "scopes must name at least one of read, write",
            ));
        }
        let expires_at = match request.expires_in_days {
            Some(0 | 3651..) => {
                return Err(ServiceError::invalid(
                    "expires_in_days",
                    "expires_in_days must be from 1 to 3650",
                ));
            }
            Some(days) => Some(Utc::now() + chrono::TimeDelta::days(i64::from(days))),
            None => None,
        };
        let secret = format!("{API_KEY_PREFIX}{}", secrets::random_token());
        let key = self
            .store
            .create_api_key(
                Actor::User(identity.user_id()),
                identity.user_id(),
                NewKeyRecord {
                    name,
                    prefix: secret.chars().take(SHOWN_PREFIX_CHARS).collect(),
                    key_hash: secrets::sha256_hex(&secret),
                    scopes,
                    expires_at,
                },
            )
            .await?;
        Ok(NewApiKey { key, secret })
    }

    pub async fn list_api_keys(&self, identity: &Identity) -> Result<Vec<ApiKey>, ServiceError> {
        Ok(self.store.list_api_keys(Actor::User(identity.user_id())).await?)
    }

    pub async fn revoke_api_key(&self, identity: &Identity, id: uuid::Uuid) -> Result<ApiKey, ServiceError> {
        self.store
            .revoke_api_key(Actor::User(identity.user_id()), id)
            .await
            .not_found_as("API key")
    }
}
