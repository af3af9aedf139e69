-- agentbox: the progress events of background tasks (`GET /api/v1/tasks/{id}/events`).
--
-- One row per event; `id` is the event sequence (SSE `id:`, `Last-Event-ID`). Every writer locks
-- the task's row before it inserts an event (claim, progress, finish and cancel update or lock
-- `tasks` first), so the events of one task commit in the order of their ids and a reader that
-- resumes after an id misses none. Described in docs/schema.md.

create table public.task_events (
    id         bigint      generated always as identity primary key,
    task_id    uuid        not null references public.tasks (id) on delete cascade,
    -- the task's owner, copied so the policies need no join
    user_id    uuid        not null references public.users (id) on delete cascade,
    -- `started`, `progress`, `finished`, ... or a kind of the agent run's own (`token`, `tool_call`)
    kind       text        not null,
    data       jsonb       not null default '{}'::jsonb,
    created_at timestamptz not null default now(),
    constraint task_events_kind_check check (kind ~ '^[a-z][a-z0-9_]{0,63}$'),
    constraint task_events_data_check check (jsonb_typeof(data) = 'object')
);

-- replay: the events of one task after a given id, in order
create index task_events_task_id_id_idx on public.task_events (task_id, id);
create index task_events_user_id_idx on public.task_events (user_id);

-- ============================================================================================
-- Privileges and row-level security: a user reads the events of their own tasks and appends
-- to them (the worker writes an agent run's events as the task's owner); events are never
-- changed, and go away with their task
-- ============================================================================================
grant select, insert on public.task_events to authenticated;
grant usage, select on sequence public.task_events_id_seq to authenticated;

alter table public.task_events enable row level security;

create policy task_events_select_own on public.task_events for select to authenticated
    using (user_id = (select auth.uid()));
create policy task_events_insert_own on public.task_events for insert to authenticated
    with check (user_id = (select auth.uid())
                and exists (select 1 from public.tasks t
                             where t.id = task_events.task_id and t.user_id = (select auth.uid())));
