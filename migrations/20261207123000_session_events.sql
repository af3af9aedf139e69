-- agentbox: the events of a chat session's latest answer, so that any replica can follow an
-- answer another replica is running (`GET /api/v1/sessions/{id}/events`), from its start.
--
-- One row per event (streamed tokens are joined into one row per write); `id` is the event
-- sequence (SSE `id:`, `Last-Event-ID`). The replica that runs the answer is the only writer of
-- its session's events while it holds the session's claim (auth.session_claims), and it writes
-- them in order, so a reader that resumes after an id misses none. A new answer first deletes
-- the previous one's events: the stored messages are the history, these are only its live view.
-- Described in docs/schema.md.

create table public.session_events (
    id         bigint      generated always as identity primary key,
    session_id uuid        not null references public.sessions (id) on delete cascade,
    -- the session's owner, copied so the policies need no join
    user_id    uuid        not null references public.users (id) on delete cascade,
    -- the SSE event of `POST /sessions/{id}/messages`: `message`, `token`, `tool_call`, `done`, ...
    kind       text        not null,
    data       jsonb       not null default '{}'::jsonb,
    created_at timestamptz not null default now(),
    constraint session_events_kind_check check (kind ~ '^[a-z][a-z0-9_]{0,63}$')
);

-- replay: the events of one session after a given id, in order
create index session_events_session_id_id_idx on public.session_events (session_id, id);
create index session_events_user_id_idx on public.session_events (user_id);

-- ============================================================================================
-- Privileges and row-level security: a user reads, appends and clears the events of their own
-- sessions (the answer runs as the session's owner); events are never changed
-- ============================================================================================
grant select, insert, delete on public.session_events to authenticated;
grant usage, select on sequence public.session_events_id_seq to authenticated;

alter table public.session_events enable row level security;

create policy session_events_select_own on public.session_events for select to authenticated
    using (user_id = (select auth.uid()));
create policy session_events_delete_own on public.session_events for delete to authenticated
    using (user_id = (select auth.uid()));
create policy session_events_insert_own on public.session_events for insert to authenticated
    with check (user_id = (select auth.uid())
                and exists (select 1 from public.sessions s
                             where s.id = session_events.session_id and s.user_id = (select auth.uid())));
