-- agentbox: consolidated initial schema.
--
-- Applied by sqlx::migrate!() as one simple-query batch inside one transaction, unchanged on the
-- embedded Postgres (pglite-oxide, Postgres 17.5 in WASM) and on external Postgres >= 15.
-- Rules that keep it portable: no extensions (no pgcrypto / uuid-ossp / citext; gen_random_uuid()
-- is core), full-text search with the 'simple' configuration only, no CREATE INDEX CONCURRENTLY,
-- no transaction control. Applied migrations are never edited: later changes go in new files.
-- Every table, function, trigger and policy is described in docs/schema.md.

-- ============================================================================================
-- Roles (cluster-wide: created only when missing)
-- ============================================================================================
-- Every request runs in a transaction as `authenticated`:
--   SET LOCAL ROLE authenticated;
--   SELECT set_config('request.jwt.claims', '{"sub":"<user uuid>","role":"authenticated"}', true);
-- The migrating user owns every object, bypasses RLS (no FORCE), and must be able to SET ROLE.
do $roles$
begin
    if not exists (select 1 from pg_catalog.pg_roles where rolname = 'authenticated') then
        create role authenticated nologin noinherit;
    end if;
    if not exists (select 1 from pg_catalog.pg_roles where rolname = 'anon') then
        create role anon nologin noinherit;
    end if;
    if not pg_catalog.pg_has_role(current_user, 'authenticated', 'MEMBER') then
        execute pg_catalog.format('grant authenticated to %I', current_user);
    end if;
    if not pg_catalog.pg_has_role(current_user, 'anon', 'MEMBER') then
        execute pg_catalog.format('grant anon to %I', current_user);
    end if;
end
$roles$;

create schema if not exists auth;

-- ============================================================================================
-- Shared trigger function
-- ============================================================================================
create function public.set_updated_at() returns trigger
    language plpgsql
    set search_path = ''
as $$
begin
    new.updated_at := pg_catalog.now();
    return new;
end
$$;

-- ============================================================================================
-- auth: credentials, web login sessions, login throttling (no access for `authenticated`)
-- ============================================================================================
create table auth.users (
    id                 uuid        primary key default gen_random_uuid(),
    email              text        not null,
    encrypted_password text        not null,
    raw_user_meta_data jsonb       not null default '{}'::jsonb,
    created_at         timestamptz not null default now(),
    updated_at         timestamptz not null default now(),
    last_sign_in_at    timestamptz,
    constraint users_email_key unique (email),
    constraint users_email_lowercase check (email = lower(email)),
    constraint users_email_format check (email ~ '^[^@[:space:]]+@[^@[:space:]]+\.[^@[:space:].]+$'),
    constraint users_email_length check (char_length(email) <= 254),
    constraint users_encrypted_password_not_empty check (encrypted_password <> ''),
    constraint users_raw_user_meta_data_object check (jsonb_typeof(raw_user_meta_data) = 'object')
);

create table auth.sessions (
    id           uuid        primary key default gen_random_uuid(),
    user_id      uuid        not null references auth.users (id) on delete cascade,
    token_hash   text        not null,
    csrf_token   text        not null,
    created_at   timestamptz not null default now(),
    last_seen_at timestamptz not null default now(),
    expires_at   timestamptz not null,
    user_agent   text,
    ip           text,
    constraint sessions_token_hash_key unique (token_hash)
);
create index sessions_user_id_idx on auth.sessions (user_id);
create index sessions_expires_at_idx on auth.sessions (expires_at);

create table auth.login_attempts (
    id           bigint      generated always as identity primary key,
    email        text        not null,
    ip           text,
    succeeded    boolean     not null,
    attempted_at timestamptz not null default now()
);
create index login_attempts_email_attempted_at_idx on auth.login_attempts (email, attempted_at desc);
create index login_attempts_ip_attempted_at_idx on auth.login_attempts (ip, attempted_at desc)
    where ip is not null;
create index login_attempts_attempted_at_idx on auth.login_attempts (attempted_at);

create trigger users_set_updated_at before update on auth.users
    for each row execute function public.set_updated_at();

-- ============================================================================================
-- public: tenancy and profiles
-- ============================================================================================
create table public.companies (
    id         uuid        primary key default gen_random_uuid(),
    name       text        not null,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    constraint companies_name_key unique (name),
    constraint companies_name_check check (name = btrim(name) and char_length(name) between 1 and 200)
);

create table public.departments (
    id         uuid        primary key default gen_random_uuid(),
    company_id uuid        not null references public.companies (id) on delete cascade,
    name       text        not null,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    constraint departments_company_id_name_key unique (company_id, name),
    -- target of the composite foreign keys that keep a department inside its row's company
    constraint departments_company_id_id_key unique (company_id, id),
    constraint departments_name_check check (name = btrim(name) and char_length(name) between 1 and 200)
);

create table public.users (
    id            uuid        primary key references auth.users (id) on delete cascade,
    email         text        not null,
    display_name  text        not null default '',
    role          text        not null default 'member',
    company_id    uuid        references public.companies (id) on delete set null,
    department_id uuid        references public.departments (id) on delete set null,
    disabled      boolean     not null default false,
    created_at    timestamptz not null default now(),
    updated_at    timestamptz not null default now(),
    constraint users_email_key unique (email),
    constraint users_role_check check (role in ('admin', 'member')),
    constraint users_display_name_check check (char_length(display_name) <= 200),
    -- the department must belong to the user's company (MATCH SIMPLE: skipped while either is NULL)
    constraint users_department_in_company_fkey foreign key (company_id, department_id)
        references public.departments (company_id, id) on delete set null (department_id)
);
create index users_company_id_idx on public.users (company_id);
create index users_department_id_idx on public.users (department_id);

create table public.api_keys (
    id           uuid        primary key default gen_random_uuid(),
    user_id      uuid        not null references public.users (id) on delete cascade,
    name         text        not null,
    prefix       text        not null,
    key_hash     text        not null,
    scopes       text[]      not null default '{}',
    created_at   timestamptz not null default now(),
    last_used_at timestamptz,
    expires_at   timestamptz,
    revoked_at   timestamptz,
    constraint api_keys_key_hash_key unique (key_hash),
    constraint api_keys_name_check check (char_length(btrim(name)) between 1 and 100),
    constraint api_keys_prefix_check check (char_length(prefix) between 1 and 32),
    constraint api_keys_scopes_no_nulls check (array_position(scopes, null) is null)
);
create index api_keys_user_id_idx on public.api_keys (user_id, created_at desc);

-- ============================================================================================
-- public: chat
-- ============================================================================================
create table public.sessions (
    id         uuid        primary key default gen_random_uuid(),
    user_id    uuid        not null references public.users (id) on delete cascade,
    agent      text        not null,
    title      text        not null default '',
    archived   boolean     not null default false,
    deleted_at timestamptz,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    constraint sessions_agent_check check (char_length(agent) between 1 and 100),
    constraint sessions_title_check check (char_length(title) <= 500)
);
create index sessions_user_id_updated_at_idx on public.sessions (user_id, updated_at desc)
    where deleted_at is null;
create index sessions_user_id_idx on public.sessions (user_id);

create table public.messages (
    id                uuid        primary key default gen_random_uuid(),
    -- strict insertion order: several messages written in one transaction share created_at
    seq               bigint      generated always as identity,
    session_id        uuid        not null references public.sessions (id) on delete cascade,
    user_id           uuid        not null references public.users (id) on delete cascade,
    role              text        not null,
    content           text        not null default '',
    tool_calls        jsonb,
    tool_call_id      text,
    agent             text,
    model             text,
    prompt_tokens     integer,
    completion_tokens integer,
    status            text        not null default 'complete',
    error             text,
    rating            smallint,
    rating_comment    text,
    rated_at          timestamptz,
    created_at        timestamptz not null default now(),
    constraint messages_seq_key unique (seq),
    constraint messages_role_check check (role in ('system', 'user', 'assistant', 'tool')),
    constraint messages_status_check check (status in ('streaming', 'complete', 'interrupted', 'error')),
    constraint messages_tool_calls_check check (tool_calls is null or jsonb_typeof(tool_calls) = 'array'),
    constraint messages_tool_call_id_check check (role <> 'tool' or tool_call_id is not null),
    constraint messages_tokens_check check (coalesce(prompt_tokens, 0) >= 0 and coalesce(completion_tokens, 0) >= 0),
    constraint messages_rating_check check (rating in (-1, 1)),
    constraint messages_rating_comment_check check (char_length(rating_comment) <= 2000)
);
create index messages_session_id_seq_idx on public.messages (session_id, seq);
create index messages_user_id_idx on public.messages (user_id);
create index messages_rated_idx on public.messages (created_at) where rating is not null;
-- conversation search: query with exactly this expression and predicate, e.g.
--   to_tsvector('simple', left(content, 100000)) @@ websearch_to_tsquery('simple', $1)
--   and role in ('user', 'assistant')
-- (left() keeps huge texts under the 1 MB tsvector limit, so an insert can never fail on it)
create index messages_content_search_idx on public.messages
    using gin (to_tsvector('simple'::regconfig, left(content, 100000)))
    where role in ('user', 'assistant');

create table public.agent_conversations (
    id           uuid        primary key default gen_random_uuid(),
    session_id   uuid        not null references public.sessions (id) on delete cascade,
    user_id      uuid        not null references public.users (id) on delete cascade,
    agent        text        not null,
    model        text,
    state        jsonb       not null default '{}'::jsonb,
    step_count   integer     not null default 0,
    started_at   timestamptz not null default now(),
    last_used_at timestamptz not null default now(),
    constraint agent_conversations_session_id_agent_key unique (session_id, agent),
    constraint agent_conversations_agent_check check (char_length(agent) between 1 and 100),
    constraint agent_conversations_state_check check (jsonb_typeof(state) = 'object'),
    constraint agent_conversations_step_count_check check (step_count >= 0)
);
create index agent_conversations_user_id_idx on public.agent_conversations (user_id, last_used_at desc);

-- ============================================================================================
-- public: agents and background tasks
-- ============================================================================================
create table public.agents (
    id            uuid             primary key default gen_random_uuid(),
    name          text             not null,
    description   text             not null default '',
    model_role    text             default 'fast',
    model_name    text,
    tools         text[]           not null default '{}',
    max_steps     integer          not null default 10,
    temperature   double precision,
    system_prompt text             not null default '',
    enabled       boolean          not null default true,
    source        text             not null default 'database',
    company_id    uuid             references public.companies (id) on delete cascade,
    created_by    uuid             references public.users (id) on delete set null,
    created_at    timestamptz      not null default now(),
    updated_at    timestamptz      not null default now(),
    constraint agents_name_key unique (name),
    constraint agents_name_check check (name ~ '^[a-z0-9][a-z0-9_-]{0,63}$'),
    constraint agents_model_role_check check (model_role in ('fast', 'reasoning', 'code')),
    constraint agents_model_check check (model_role is not null or model_name is not null),
    constraint agents_max_steps_check check (max_steps between 1 and 100),
    constraint agents_temperature_check check (temperature between 0 and 2),
    constraint agents_source_check check (source in ('builtin', 'file', 'database')),
    constraint agents_tools_no_nulls check (array_position(tools, null) is null)
);
create index agents_company_id_idx on public.agents (company_id);
create index agents_created_by_idx on public.agents (created_by) where created_by is not null;

create table public.tasks (
    id               uuid             primary key default gen_random_uuid(),
    user_id          uuid             not null references public.users (id) on delete cascade,
    session_id       uuid             references public.sessions (id) on delete set null,
    agent            text             not null,
    input            text             not null,
    options          jsonb            not null default '{}'::jsonb,
    status           text             not null default 'queued',
    progress         double precision not null default 0,
    progress_message text,
    result           text,
    error            text,
    attempts         integer          not null default 0,
    max_attempts     integer          not null default 3,
    cancel_requested boolean          not null default false,
    lease_owner      text,
    lease_expires_at timestamptz,
    heartbeat_at     timestamptz,
    created_at       timestamptz      not null default now(),
    updated_at       timestamptz      not null default now(),
    started_at       timestamptz,
    finished_at      timestamptz,
    constraint tasks_status_check check (status in ('queued', 'running', 'succeeded', 'failed', 'cancelled')),
    constraint tasks_agent_check check (char_length(agent) between 1 and 100),
    constraint tasks_input_check check (input <> ''),
    constraint tasks_options_check check (jsonb_typeof(options) = 'object'),
    constraint tasks_progress_check check (progress >= 0 and progress <= 1),
    constraint tasks_attempts_check check (attempts >= 0 and max_attempts >= 1),
    constraint tasks_finished_at_check check ((finished_at is not null) = (status in ('succeeded', 'failed', 'cancelled')))
);
-- claim: select ... where status = 'queued' order by created_at limit n for update skip locked
create index tasks_status_created_at_idx on public.tasks (status, created_at);
-- recovery: running tasks whose lease expired (crashed replica)
create index tasks_lease_expires_at_idx on public.tasks (lease_expires_at) where status = 'running';
create index tasks_user_id_created_at_idx on public.tasks (user_id, created_at desc);
create index tasks_session_id_idx on public.tasks (session_id) where session_id is not null;

-- Keeps started_at / finished_at / the lease consistent with status, whoever writes the row.
create function public.tasks_track_status() returns trigger
    language plpgsql
    set search_path = ''
as $$
begin
    if new.status = 'running' and new.started_at is null then
        new.started_at := pg_catalog.now();
    end if;
    if new.status in ('succeeded', 'failed', 'cancelled') then
        if new.finished_at is null then
            new.finished_at := pg_catalog.now();
        end if;
        new.lease_owner := null;
        new.lease_expires_at := null;
        if new.status = 'succeeded' then
            new.progress := 1;
        end if;
    else
        new.finished_at := null;
    end if;
    return new;
end
$$;

-- ============================================================================================
-- public: KPIs
-- ============================================================================================
create table public.kpis (
    id               uuid        primary key default gen_random_uuid(),
    company_id       uuid        not null references public.companies (id) on delete cascade,
    department_id    uuid,
    name             text        not null,
    unit             text        not null default '',
    description      text        not null default '',
    higher_is_better boolean     not null default true,
    aggregation      text        not null default 'sum',
    created_at       timestamptz not null default now(),
    updated_at       timestamptz not null default now(),
    -- one company-wide KPI (department NULL) and one per department may share a name
    constraint kpis_company_id_department_id_name_key unique nulls not distinct (company_id, department_id, name),
    constraint kpis_department_in_company_fkey foreign key (company_id, department_id)
        references public.departments (company_id, id) on delete cascade,
    constraint kpis_name_check check (name = btrim(name) and char_length(name) between 1 and 200),
    constraint kpis_unit_check check (char_length(unit) <= 50),
    constraint kpis_aggregation_check check (aggregation in ('sum', 'avg', 'last'))
);
create index kpis_department_id_idx on public.kpis (department_id) where department_id is not null;

create table public.kpi_values (
    id         uuid        primary key default gen_random_uuid(),
    kpi_id     uuid        not null references public.kpis (id) on delete cascade,
    period     date        not null,
    value      numeric     not null,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    constraint kpi_values_kpi_id_period_key unique (kpi_id, period),
    constraint kpi_values_period_check check (extract(day from period) = 1)
);
create index kpi_values_period_idx on public.kpi_values (period);

create table public.kpi_targets (
    id         uuid        primary key default gen_random_uuid(),
    kpi_id     uuid        not null references public.kpis (id) on delete cascade,
    period     date        not null,
    target     numeric     not null,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    constraint kpi_targets_kpi_id_period_key unique (kpi_id, period),
    constraint kpi_targets_period_check check (extract(day from period) = 1)
);
create index kpi_targets_period_idx on public.kpi_targets (period);

-- ============================================================================================
-- public: model providers, models, per-call evaluations
-- ============================================================================================
create table public.providers (
    id                 uuid        primary key default gen_random_uuid(),
    name               text        not null,
    kind               text        not null,
    base_url           text,
    api_key_ciphertext bytea,
    enabled            boolean     not null default true,
    priority           integer     not null default 100,
    settings           jsonb       not null default '{}'::jsonb,
    created_at         timestamptz not null default now(),
    updated_at         timestamptz not null default now(),
    constraint providers_name_key unique (name),
    constraint providers_name_check check (name ~ '^[a-z0-9][a-z0-9_.-]{0,63}$'),
    constraint providers_kind_check check (kind in ('local', 'anthropic', 'openai', 'openai_compatible')),
    constraint providers_base_url_check check (base_url ~ '^https?://[^[:space:]]+$'),
    constraint providers_settings_check check (jsonb_typeof(settings) = 'object')
);

create table public.models (
    id           uuid        primary key default gen_random_uuid(),
    provider_id  uuid        not null references public.providers (id) on delete cascade,
    name         text        not null,
    role         text,
    context_size integer     not null default 4096,
    settings     jsonb       not null default '{}'::jsonb,
    enabled      boolean     not null default true,
    created_at   timestamptz not null default now(),
    updated_at   timestamptz not null default now(),
    constraint models_name_key unique (name),
    constraint models_name_check check (char_length(name) between 1 and 200 and name !~ '[[:space:]]'),
    constraint models_role_check check (role in ('fast', 'reasoning', 'code', 'embedding')),
    constraint models_context_size_check check (context_size > 0),
    constraint models_settings_check check (jsonb_typeof(settings) = 'object')
);
create index models_provider_id_idx on public.models (provider_id);
create index models_role_idx on public.models (role) where role is not null;

create table public.llm_evaluations (
    id                uuid             primary key default gen_random_uuid(),
    created_at        timestamptz      not null default now(),
    model             text             not null,
    provider          text             not null,
    agent             text,
    user_id           uuid             references public.users (id) on delete set null,
    session_id        uuid             references public.sessions (id) on delete set null,
    message_id        uuid             references public.messages (id) on delete set null,
    task_id           uuid             references public.tasks (id) on delete set null,
    ttft_ms           integer,
    latency_ms        integer          not null,
    prompt_tokens     integer          not null default 0,
    completion_tokens integer          not null default 0,
    tokens_per_second double precision,
    outcome           text             not null,
    error             text,
    constraint llm_evaluations_outcome_check check (outcome in ('success', 'error', 'cancelled', 'timeout')),
    constraint llm_evaluations_timing_check check (latency_ms >= 0 and coalesce(ttft_ms, 0) >= 0),
    constraint llm_evaluations_tokens_check check (prompt_tokens >= 0 and completion_tokens >= 0
                                                   and coalesce(tokens_per_second, 0) >= 0)
);
create index llm_evaluations_created_at_idx on public.llm_evaluations (created_at);
create index llm_evaluations_model_created_at_idx on public.llm_evaluations (model, created_at);
create index llm_evaluations_user_id_created_at_idx on public.llm_evaluations (user_id, created_at);
create index llm_evaluations_session_id_idx on public.llm_evaluations (session_id) where session_id is not null;
create index llm_evaluations_message_id_idx on public.llm_evaluations (message_id) where message_id is not null;
create index llm_evaluations_task_id_idx on public.llm_evaluations (task_id) where task_id is not null;

-- ============================================================================================
-- updated_at triggers
-- ============================================================================================
create trigger companies_set_updated_at before update on public.companies
    for each row execute function public.set_updated_at();
create trigger departments_set_updated_at before update on public.departments
    for each row execute function public.set_updated_at();
create trigger users_set_updated_at before update on public.users
    for each row execute function public.set_updated_at();
create trigger sessions_set_updated_at before update on public.sessions
    for each row execute function public.set_updated_at();
create trigger agents_set_updated_at before update on public.agents
    for each row execute function public.set_updated_at();
create trigger tasks_set_updated_at before update on public.tasks
    for each row execute function public.set_updated_at();
create trigger kpis_set_updated_at before update on public.kpis
    for each row execute function public.set_updated_at();
create trigger kpi_values_set_updated_at before update on public.kpi_values
    for each row execute function public.set_updated_at();
create trigger kpi_targets_set_updated_at before update on public.kpi_targets
    for each row execute function public.set_updated_at();
create trigger providers_set_updated_at before update on public.providers
    for each row execute function public.set_updated_at();
create trigger models_set_updated_at before update on public.models
    for each row execute function public.set_updated_at();

create trigger tasks_track_status before insert or update on public.tasks
    for each row execute function public.tasks_track_status();

-- A new message bumps its session's updated_at (session lists sort by recent activity).
-- SECURITY INVOKER: under RLS it can only touch a session the writer owns.
create function public.messages_touch_session() returns trigger
    language plpgsql
    set search_path = ''
as $$
begin
    update public.sessions set updated_at = pg_catalog.now()
     where id = new.session_id and updated_at < pg_catalog.now();
    return null;
end
$$;
create trigger messages_touch_session after insert on public.messages
    for each row execute function public.messages_touch_session();

-- ============================================================================================
-- auth helper functions (used by RLS policies as `(select auth.uid())` etc.)
-- ============================================================================================
-- The claims set by the request; '{}' when unset ("once set, it reads back as '' not NULL").
create function auth.jwt() returns jsonb
    language sql stable
    set search_path = ''
as $$
    select coalesce(nullif(pg_catalog.current_setting('request.jwt.claims', true), '')::jsonb,
                    '{}'::jsonb)
$$;

create function auth.uid() returns uuid
    language sql stable
    set search_path = ''
as $$
    select (auth.jwt() ->> 'sub')::uuid
$$;

create function auth.role() returns text
    language sql stable
    set search_path = ''
as $$
    select auth.jwt() ->> 'role'
$$;

-- Company and admin flag come from public.users (never from the claims). SECURITY DEFINER, so
-- the lookup bypasses RLS on public.users (no policy recursion). Disabled users get NULL / false.
create function auth.company_id() returns uuid
    language sql stable security definer
    set search_path = ''
as $$
    select u.company_id from public.users u where u.id = auth.uid() and not u.disabled
$$;

create function auth.is_admin() returns boolean
    language sql stable security definer
    set search_path = ''
as $$
    select coalesce((select u.role = 'admin' from public.users u where u.id = auth.uid() and not u.disabled),
                    false)
$$;

-- ============================================================================================
-- Profile triggers on auth.users
-- ============================================================================================
-- Creates public.users from the new auth user. Meta keys: display_name, role, company_id,
-- department_id; a missing (or null) key takes the column default. A bad value (unknown role,
-- malformed uuid, department of another company) fails the auth.users insert.
create function auth.handle_new_user() returns trigger
    language plpgsql security definer
    set search_path = ''
as $$
declare
    meta jsonb := coalesce(new.raw_user_meta_data, '{}'::jsonb);
begin
    insert into public.users (id, email, display_name, role, company_id, department_id)
    values (new.id,
            new.email,
            coalesce(meta ->> 'display_name', ''),
            coalesce(meta ->> 'role', 'member'),
            (meta ->> 'company_id')::uuid,
            (meta ->> 'department_id')::uuid);
    return new;
end
$$;
create trigger on_auth_user_created after insert on auth.users
    for each row execute function auth.handle_new_user();

create function auth.sync_user_email() returns trigger
    language plpgsql security definer
    set search_path = ''
as $$
begin
    update public.users set email = new.email where id = new.id;
    return new;
end
$$;
create trigger on_auth_user_email_updated after update of email on auth.users
    for each row when (old.email is distinct from new.email)
    execute function auth.sync_user_email();

-- ============================================================================================
-- Privileges
-- ============================================================================================
revoke all on schema auth from public;
grant usage on schema auth to authenticated, anon;
revoke all on all tables in schema auth from public;
revoke all on all sequences in schema auth from public;
revoke execute on all functions in schema auth from public;
grant execute on function auth.jwt(), auth.uid(), auth.role(), auth.company_id(), auth.is_admin()
    to authenticated, anon;
revoke execute on function public.set_updated_at(), public.tasks_track_status(),
    public.messages_touch_session() from public;

grant usage on schema public to authenticated, anon;
-- Tables are listed by name (not "all tables in schema public"): sqlx's _sqlx_migrations lives
-- in public too and must stay out of reach.
grant select, insert, update, delete on
    public.companies, public.departments, public.users, public.api_keys,
    public.sessions, public.messages, public.agent_conversations, public.agents, public.tasks,
    public.kpis, public.kpi_values, public.kpi_targets,
    public.providers, public.models, public.llm_evaluations
    to authenticated;
-- Profiles: id, email (synced from auth.users) and created_at are not writable through the role.
revoke update on public.users from authenticated;
grant update (display_name, role, company_id, department_id, disabled, updated_at) on public.users to authenticated;
grant usage, select on sequence public.messages_seq_seq to authenticated;

-- ============================================================================================
-- Row-level security
-- ============================================================================================
-- auth tables: RLS on with no policy (deny) as a second wall behind the missing grants.
alter table auth.users enable row level security;
alter table auth.sessions enable row level security;
alter table auth.login_attempts enable row level security;

alter table public.companies enable row level security;
alter table public.departments enable row level security;
alter table public.users enable row level security;
alter table public.api_keys enable row level security;
alter table public.sessions enable row level security;
alter table public.messages enable row level security;
alter table public.agent_conversations enable row level security;
alter table public.agents enable row level security;
alter table public.tasks enable row level security;
alter table public.kpis enable row level security;
alter table public.kpi_values enable row level security;
alter table public.kpi_targets enable row level security;
alter table public.providers enable row level security;
alter table public.models enable row level security;
alter table public.llm_evaluations enable row level security;

-- companies
create policy companies_select_own on public.companies for select to authenticated
    using (id = (select auth.company_id()));
create policy companies_update_admin on public.companies for update to authenticated
    using ((select auth.is_admin()) and id = (select auth.company_id()))
    with check (id = (select auth.company_id()));

-- departments
create policy departments_select_company on public.departments for select to authenticated
    using (company_id = (select auth.company_id()));
create policy departments_insert_admin on public.departments for insert to authenticated
    with check ((select auth.is_admin()) and company_id = (select auth.company_id()));
create policy departments_update_admin on public.departments for update to authenticated
    using ((select auth.is_admin()) and company_id = (select auth.company_id()))
    with check (company_id = (select auth.company_id()));
create policy departments_delete_admin on public.departments for delete to authenticated
    using ((select auth.is_admin()) and company_id = (select auth.company_id()));

-- users (profiles): no insert / delete policy
create policy users_select_self on public.users for select to authenticated
    using (id = (select auth.uid()));
create policy users_select_company_admin on public.users for select to authenticated
    using ((select auth.is_admin()) and company_id = (select auth.company_id()));
create policy users_update_company_admin on public.users for update to authenticated
    using ((select auth.is_admin()) and company_id = (select auth.company_id()))
    with check (company_id = (select auth.company_id()));

-- api_keys
create policy api_keys_select_own on public.api_keys for select to authenticated
    using (user_id = (select auth.uid()));
create policy api_keys_insert_own on public.api_keys for insert to authenticated
    with check (user_id = (select auth.uid()));
create policy api_keys_update_own on public.api_keys for update to authenticated
    using (user_id = (select auth.uid())) with check (user_id = (select auth.uid()));
create policy api_keys_delete_own on public.api_keys for delete to authenticated
    using (user_id = (select auth.uid()));

-- sessions
create policy sessions_select_own on public.sessions for select to authenticated
    using (user_id = (select auth.uid()));
create policy sessions_insert_own on public.sessions for insert to authenticated
    with check (user_id = (select auth.uid()));
create policy sessions_update_own on public.sessions for update to authenticated
    using (user_id = (select auth.uid())) with check (user_id = (select auth.uid()));
create policy sessions_delete_own on public.sessions for delete to authenticated
    using (user_id = (select auth.uid()));

-- messages: own rows, and only inside a session the caller owns
create policy messages_select_own on public.messages for select to authenticated
    using (user_id = (select auth.uid())
           and exists (select 1 from public.sessions s
                        where s.id = messages.session_id and s.user_id = (select auth.uid())));
create policy messages_insert_own on public.messages for insert to authenticated
    with check (user_id = (select auth.uid())
                and exists (select 1 from public.sessions s
                             where s.id = messages.session_id and s.user_id = (select auth.uid())));
create policy messages_update_own on public.messages for update to authenticated
    using (user_id = (select auth.uid())
           and exists (select 1 from public.sessions s
                        where s.id = messages.session_id and s.user_id = (select auth.uid())))
    with check (user_id = (select auth.uid())
                and exists (select 1 from public.sessions s
                             where s.id = messages.session_id and s.user_id = (select auth.uid())));
create policy messages_delete_own on public.messages for delete to authenticated
    using (user_id = (select auth.uid())
           and exists (select 1 from public.sessions s
                        where s.id = messages.session_id and s.user_id = (select auth.uid())));

-- agent_conversations: same shape as messages
create policy agent_conversations_select_own on public.agent_conversations for select to authenticated
    using (user_id = (select auth.uid())
           and exists (select 1 from public.sessions s
                        where s.id = agent_conversations.session_id and s.user_id = (select auth.uid())));
create policy agent_conversations_insert_own on public.agent_conversations for insert to authenticated
    with check (user_id = (select auth.uid())
                and exists (select 1 from public.sessions s
                             where s.id = agent_conversations.session_id and s.user_id = (select auth.uid())));
create policy agent_conversations_update_own on public.agent_conversations for update to authenticated
    using (user_id = (select auth.uid()))
    with check (user_id = (select auth.uid())
                and exists (select 1 from public.sessions s
                             where s.id = agent_conversations.session_id and s.user_id = (select auth.uid())));
create policy agent_conversations_delete_own on public.agent_conversations for delete to authenticated
    using (user_id = (select auth.uid()));

-- tasks
create policy tasks_select_own on public.tasks for select to authenticated
    using (user_id = (select auth.uid()));
create policy tasks_insert_own on public.tasks for insert to authenticated
    with check (user_id = (select auth.uid()));
create policy tasks_update_own on public.tasks for update to authenticated
    using (user_id = (select auth.uid())) with check (user_id = (select auth.uid()));
create policy tasks_delete_own on public.tasks for delete to authenticated
    using (user_id = (select auth.uid()));

-- llm_evaluations: own rows; company admins read their company's (analytics); rows are
-- immutable for the role (no update policy)
create policy llm_evaluations_select_own on public.llm_evaluations for select to authenticated
    using (user_id = (select auth.uid()));
create policy llm_evaluations_select_company_admin on public.llm_evaluations for select to authenticated
    using ((select auth.is_admin())
           and user_id in (select u.id from public.users u where u.company_id = (select auth.company_id())));
create policy llm_evaluations_insert_own on public.llm_evaluations for insert to authenticated
    with check (user_id = (select auth.uid()));
create policy llm_evaluations_delete_own on public.llm_evaluations for delete to authenticated
    using (user_id = (select auth.uid()));

-- kpis
create policy kpis_select_company on public.kpis for select to authenticated
    using (company_id = (select auth.company_id()));
create policy kpis_insert_admin on public.kpis for insert to authenticated
    with check ((select auth.is_admin()) and company_id = (select auth.company_id()));
create policy kpis_update_admin on public.kpis for update to authenticated
    using ((select auth.is_admin()) and company_id = (select auth.company_id()))
    with check (company_id = (select auth.company_id()));
create policy kpis_delete_admin on public.kpis for delete to authenticated
    using ((select auth.is_admin()) and company_id = (select auth.company_id()));

-- kpi_values / kpi_targets: through the KPI's company (uncorrelated IN: one hashed lookup per
-- statement, good for the analyst's aggregations)
create policy kpi_values_select_company on public.kpi_values for select to authenticated
    using (kpi_id in (select k.id from public.kpis k where k.company_id = (select auth.company_id())));
create policy kpi_values_insert_admin on public.kpi_values for insert to authenticated
    with check ((select auth.is_admin())
                and kpi_id in (select k.id from public.kpis k where k.company_id = (select auth.company_id())));
create policy kpi_values_update_admin on public.kpi_values for update to authenticated
    using ((select auth.is_admin())
           and kpi_id in (select k.id from public.kpis k where k.company_id = (select auth.company_id())))
    with check (kpi_id in (select k.id from public.kpis k where k.company_id = (select auth.company_id())));
create policy kpi_values_delete_admin on public.kpi_values for delete to authenticated
    using ((select auth.is_admin())
           and kpi_id in (select k.id from public.kpis k where k.company_id = (select auth.company_id())));

create policy kpi_targets_select_company on public.kpi_targets for select to authenticated
    using (kpi_id in (select k.id from public.kpis k where k.company_id = (select auth.company_id())));
create policy kpi_targets_insert_admin on public.kpi_targets for insert to authenticated
    with check ((select auth.is_admin())
                and kpi_id in (select k.id from public.kpis k where k.company_id = (select auth.company_id())));
create policy kpi_targets_update_admin on public.kpi_targets for update to authenticated
    using ((select auth.is_admin())
           and kpi_id in (select k.id from public.kpis k where k.company_id = (select auth.company_id())))
    with check (kpi_id in (select k.id from public.kpis k where k.company_id = (select auth.company_id())));
create policy kpi_targets_delete_admin on public.kpi_targets for delete to authenticated
    using ((select auth.is_admin())
           and kpi_id in (select k.id from public.kpis k where k.company_id = (select auth.company_id())));

-- providers / models: everyone reads, admins write
create policy providers_select_all on public.providers for select to authenticated
    using (true);
create policy providers_insert_admin on public.providers for insert to authenticated
    with check ((select auth.is_admin()));
create policy providers_update_admin on public.providers for update to authenticated
    using ((select auth.is_admin())) with check ((select auth.is_admin()));
create policy providers_delete_admin on public.providers for delete to authenticated
    using ((select auth.is_admin()));

create policy models_select_all on public.models for select to authenticated
    using (true);
create policy models_insert_admin on public.models for insert to authenticated
    with check ((select auth.is_admin()));
create policy models_update_admin on public.models for update to authenticated
    using ((select auth.is_admin())) with check ((select auth.is_admin()));
create policy models_delete_admin on public.models for delete to authenticated
    using ((select auth.is_admin()));

-- agents: global ones (company_id NULL) for all, company ones for that company; admins write
-- global agents and their own company's
create policy agents_select_visible on public.agents for select to authenticated
    using (company_id is null or company_id = (select auth.company_id()));
create policy agents_insert_admin on public.agents for insert to authenticated
    with check ((select auth.is_admin())
                and (company_id is null or company_id = (select auth.company_id())));
create policy agents_update_admin on public.agents for update to authenticated
    using ((select auth.is_admin())
           and (company_id is null or company_id = (select auth.company_id())))
    with check ((select auth.is_admin())
                and (company_id is null or company_id = (select auth.company_id())));
create policy agents_delete_admin on public.agents for delete to authenticated
    using ((select auth.is_admin())
           and (company_id is null or company_id = (select auth.company_id())));

-- ============================================================================================
-- Essential seed data (idempotent)
-- ============================================================================================
insert into public.providers (name, kind, base_url, enabled, priority) values
    ('local',             'local',             null,                        true,  0),
    ('anthropic',         'anthropic',         'https://api.anthropic.com', true,  10),
    ('openai',            'openai',            'https://api.openai.com/v1', true,  20),
    ('openai-compatible', 'openai_compatible', null,                        false, 30)
on conflict (name) do nothing;

insert into public.models (provider_id, name, role, context_size)
select p.id, m.name, m.role, m.context_size
  from (values ('llama-3.2-3b-instruct',       'fast',      8192),
               ('qwq-32b',                     'reasoning', 32768),
               ('deepseek-r1-distill-qwen-7b', 'code',      32768)) as m (name, role, context_size)
  join public.providers p on p.name = 'local'
on conflict (name) do nothing;
