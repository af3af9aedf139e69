-- agentbox: embeddings for semantic search over the caller's messages and workspace files.
--
-- pgvector when the server has it: the embedded database bundles it (the store asks pglite for
-- it at start), external Postgres has it when the package is installed. Without it the vectors
-- are stored as real[] and searched exactly with public.embedding_cosine(). The store reads the
-- column's type at start and picks the query. Described in docs/schema.md.

-- ============================================================================================
-- pgvector, when available (creating it needs a superuser; without one, the fallback is used)
-- ============================================================================================
do $vector$
begin
    if exists (select 1 from pg_catalog.pg_available_extensions where name = 'vector') then
        begin
            create extension if not exists vector;
        exception when insufficient_privilege then
            raise notice 'pgvector is available but cannot be created by %; using real[]', current_user;
        end;
    end if;
end
$vector$;

-- ============================================================================================
-- Table
-- ============================================================================================
create table public.embeddings (
    id          uuid        primary key default gen_random_uuid(),
    owner       uuid        not null references public.users (id) on delete cascade,
    -- what was embedded: a chat message, or a chunk of a workspace file
    source      text        not null,
    message_id  uuid        references public.messages (id) on delete cascade,
    path        text,
    chunk       integer     not null default 0,
    content     text        not null,
    model       text        not null,
    dims        integer     not null,
    -- real[] here; turned into pgvector's `vector` below when the extension is installed
    embedding   real[]      not null,
    created_at  timestamptz not null default now(),
    constraint embeddings_source_check check (source in ('message', 'workspace')),
    constraint embeddings_reference_check check (
        (source = 'message' and message_id is not null and path is null)
        or (source = 'workspace' and path is not null and message_id is null)),
    constraint embeddings_dims_check check (dims between 1 and 16000),
    constraint embeddings_chunk_check check (chunk >= 0),
    constraint embeddings_content_check check (length(content) <= 4000),
    -- one vector per model for each message / file chunk of a user (re-indexing replaces it)
    constraint embeddings_source_key unique nulls not distinct (owner, source, message_id, path, chunk, model)
);

create index embeddings_owner_model_idx on public.embeddings (owner, model, source);
create index embeddings_message_id_idx on public.embeddings (message_id) where message_id is not null;

-- Exact cosine similarity of two real[] vectors: the search of the fallback path.
create function public.embedding_cosine(a real[], b real[]) returns double precision
    language sql immutable strict parallel safe
    set search_path = ''
as $$
    select sum(x::float8 * y) / nullif(sqrt(sum(x::float8 * x)) * sqrt(sum(y::float8 * y)), 0)
      from unnest(a, b) as t(x, y)
$$;

-- With pgvector: the column becomes `vector` (no fixed size, so models of any size fit) and an
-- HNSW cosine index covers the default model's 384 dimensions; the store adds the same partial
-- index for another size when a model of that size is used.
do $vector_column$
begin
    if exists (select 1 from pg_catalog.pg_extension where extname = 'vector') then
        alter table public.embeddings alter column embedding type vector using embedding::vector;
        create index embeddings_hnsw_384_idx on public.embeddings
            using hnsw ((embedding::vector(384)) vector_cosine_ops) where dims = 384;
    end if;
end
$vector_column$;

-- ============================================================================================
-- Privileges and row-level security: a user sees and changes only their own rows
-- ============================================================================================
grant select, insert, update, delete on public.embeddings to authenticated;
grant execute on function public.embedding_cosine(real[], real[]) to authenticated;

alter table public.embeddings enable row level security;

create policy embeddings_select_own on public.embeddings for select to authenticated
    using (owner = (select auth.uid()));
create policy embeddings_insert_own on public.embeddings for insert to authenticated
    with check (owner = (select auth.uid())
                and (message_id is null
                     or exists (select 1 from public.messages m
                                 where m.id = embeddings.message_id and m.user_id = (select auth.uid()))));
create policy embeddings_update_own on public.embeddings for update to authenticated
    using (owner = (select auth.uid()))
    with check (owner = (select auth.uid())
                and (message_id is null
                     or exists (select 1 from public.messages m
                                 where m.id = embeddings.message_id and m.user_id = (select auth.uid()))));
create policy embeddings_delete_own on public.embeddings for delete to authenticated
    using (owner = (select auth.uid()));
