-- One answer at a time per chat session, across every replica on this database: a replica
-- answering a session holds its claim, renews the lease while the answer runs, and deletes it
-- at the end. A replica that dies mid-answer stops renewing; the claim lapses with its lease and
-- the next message takes it over. A lease, not an advisory lock, so that a pooler in transaction
-- mode (PgBouncer) keeps it.
create table auth.session_claims (
    session_id uuid        primary key references public.sessions (id) on delete cascade,
    -- The claim's own random id: only its holder renews or releases it.
    holder     uuid        not null,
    expires_at timestamptz not null
);
-- RLS on, no policy, no grant: only the platform (the owner) reads or writes claims.
alter table auth.session_claims enable row level security;
