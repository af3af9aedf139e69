-- agentbox: what an agent's first model call of each answer must do — `auto` (text or a call, as
-- the model sees fit), `required` (call one of its tools) or the name of one of its tools. Later
-- calls of the same answer are free, so the agent answers from the results. Agents whose answers
-- must rest on data (the analyst) require a call: small local models otherwise answer from memory.
alter table public.agents add column tool_choice text not null default 'auto';
alter table public.agents add constraint agents_tool_choice_check
    check (length(tool_choice) between 1 and 128);
