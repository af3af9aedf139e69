-- Signed claims: auth.uid() believes request.jwt.claims only with the platform's signature.
--
-- Any statement may call set_config('request.jwt.claims', …), so claims alone let SQL that
-- reached the database (past a missed check) name another user. The platform now signs the user
-- id with a key only the owner can read; auth.uid() is NULL for unsigned or wrongly signed
-- claims, and every policy then sees no one. The signature is
--   hex(sha256(key || sha256(key || sub)))
-- (sha256 is built in; hmac needs pgcrypto, which the embedded database lacks). The platform
-- computes the same in src/store/claims.rs. Operators running SQL as a user sign the same way
-- as the owner (see docs/schema.md).

create table auth.claims_key (
    singleton boolean primary key default true,
    key       bytea   not null,
    constraint claims_key_singleton check (singleton),
    constraint claims_key_length check (pg_catalog.octet_length(key) = 32)
);
-- RLS on, no policy, no grant: only the owner (and SECURITY DEFINER functions it owns) reads it.
alter table auth.claims_key enable row level security;

-- 366 random bits (three v4 UUIDs from the server's strong random source), hashed to 256.
insert into auth.claims_key (key)
select pg_catalog.sha256(pg_catalog.convert_to(
    gen_random_uuid()::text || gen_random_uuid()::text || gen_random_uuid()::text, 'UTF8'));

-- SECURITY DEFINER to read the key; the policies call it once per statement as
-- `(select auth.uid())`. Grants made on the old definition stay.
create or replace function auth.uid() returns uuid
    language sql stable security definer
    set search_path = ''
as $$
    select (c.claims ->> 'sub')::uuid
    from (select auth.jwt() as claims) c
    cross join auth.claims_key k
    where c.claims ->> 'sig' = pg_catalog.encode(
        pg_catalog.sha256(k.key || pg_catalog.sha256(k.key || pg_catalog.convert_to(c.claims ->> 'sub', 'UTF8'))),
        'hex')
$$;
