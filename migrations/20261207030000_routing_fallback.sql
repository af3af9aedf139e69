-- agentbox: which model answered in place of the one asked for. When an agent's role (or named
-- model) has no model that can answer, the router falls back to another (routing.fallback) and
-- says so: on the stored assistant message, and on the call's llm_evaluations row.

-- {"requested": "reasoning", "in_place_of": "qwq-32b", "reason": "qwq-32b is not downloaded"}
alter table public.messages add column fallback jsonb;
alter table public.messages add constraint messages_fallback_check
    check (fallback is null or jsonb_typeof(fallback) = 'object');

-- requested: the role or model name asked for; in_place_of and fallback_reason are set when
-- `model` answered in place of the model that plays `requested`.
alter table public.llm_evaluations add column requested text;
alter table public.llm_evaluations add column in_place_of text;
alter table public.llm_evaluations add column fallback_reason text;
create index llm_evaluations_fallback_idx on public.llm_evaluations (created_at)
    where fallback_reason is not null;
