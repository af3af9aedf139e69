-- External MCP servers that admins add through the API (servers from agentbox.toml are not
-- stored). The connection settings (command, arguments, environment, URL, headers, token) may
-- hold secrets, so they are stored encrypted as one JSON document; `transport` stays readable
-- for listing.
create table public.mcp_servers (
    id                uuid        primary key default gen_random_uuid(),
    name              text        not null,
    transport         text        not null,
    config_ciphertext bytea       not null,
    enabled           boolean     not null default true,
    created_at        timestamptz not null default now(),
    updated_at        timestamptz not null default now(),
    constraint mcp_servers_name_key unique (name),
    -- Tool names are `<server>__<tool>`: a server name never holds the separator.
    constraint mcp_servers_name_check check (name ~ '^[a-z][a-z0-9_-]{0,31}$' and position('__' in name) = 0),
    constraint mcp_servers_transport_check check (transport in ('stdio', 'http'))
);

create trigger mcp_servers_set_updated_at before update on public.mcp_servers
    for each row execute function public.set_updated_at();

grant select, insert, update, delete on public.mcp_servers to authenticated;
alter table public.mcp_servers enable row level security;

-- Only admins see or change them: a stdio server runs a command on the host.
create policy mcp_servers_select_admin on public.mcp_servers for select to authenticated
    using ((select auth.is_admin()));
create policy mcp_servers_insert_admin on public.mcp_servers for insert to authenticated
    with check ((select auth.is_admin()));
create policy mcp_servers_update_admin on public.mcp_servers for update to authenticated
    using ((select auth.is_admin())) with check ((select auth.is_admin()));
create policy mcp_servers_delete_admin on public.mcp_servers for delete to authenticated
    using ((select auth.is_admin()));
