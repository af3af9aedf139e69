-- agentbox: recorded `agentbox eval` runs, and the ratings the analytics may count.
--
-- Portable like the initial schema (embedded Postgres 17.5 and Postgres >= 15, no extensions).
-- Described in docs/schema.md.

-- ============================================================================================
-- eval_runs: one row per `agentbox eval` run, sent by the CLI over the API
-- ============================================================================================
create table public.eval_runs (
    id          uuid        primary key default gen_random_uuid(),
    user_id     uuid        not null references public.users (id) on delete cascade,
    suite       text        not null,
    started_at  timestamptz not null,
    finished_at timestamptz not null,
    passed      integer     not null,
    failed      integer     not null,
    -- one object per case: name, agent, model, passed, failed check, latency, tokens, error
    results     jsonb       not null default '[]'::jsonb,
    created_at  timestamptz not null default now(),
    constraint eval_runs_suite_check check (char_length(suite) between 1 and 200),
    constraint eval_runs_counts_check check (passed >= 0 and failed >= 0),
    constraint eval_runs_times_check check (finished_at >= started_at),
    constraint eval_runs_results_check check (jsonb_typeof(results) = 'array')
);
create index eval_runs_user_id_started_at_idx on public.eval_runs (user_id, started_at desc);
create index eval_runs_started_at_idx on public.eval_runs (started_at desc);

grant select, insert, delete on public.eval_runs to authenticated;
alter table public.eval_runs enable row level security;

-- Like llm_evaluations: own rows; company admins read their company's; immutable for the role.
create policy eval_runs_select_own on public.eval_runs for select to authenticated
    using (user_id = (select auth.uid()));
create policy eval_runs_select_company_admin on public.eval_runs for select to authenticated
    using ((select auth.is_admin())
           and user_id in (select u.id from public.users u where u.company_id = (select auth.company_id())));
create policy eval_runs_insert_own on public.eval_runs for insert to authenticated
    with check (user_id = (select auth.uid()));
create policy eval_runs_delete_own on public.eval_runs for delete to authenticated
    using (user_id = (select auth.uid()));

-- ============================================================================================
-- message_ratings: the ratings (never the text) of the messages whose evaluations the caller
-- may read
-- ============================================================================================
-- Company admins read their company's llm_evaluations, but public.messages shows each user only
-- their own rows: analytics joined through it would count an admin's own ratings only. This view
-- runs as its owner (not subject to RLS) and repeats the llm_evaluations visibility rule itself:
-- own rows, and a company admin's company's. It exposes the rating and its time, not the message
-- content or the comment. security_barrier keeps a caller's own WHERE functions from seeing rows
-- before the view's filter has removed them.
create view public.message_ratings with (security_barrier = true) as
    select m.id as message_id, m.user_id, m.session_id, m.agent, m.model, m.rating, m.rated_at,
           m.created_at
      from public.messages m
     where m.rating is not null
       and (m.user_id = (select auth.uid())
            or ((select auth.is_admin())
                and m.user_id in (select u.id from public.users u
                                   where u.company_id = (select auth.company_id()))));

grant select on public.message_ratings to authenticated;
