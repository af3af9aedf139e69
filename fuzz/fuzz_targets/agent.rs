#![no_main]
agentbox_fuzz::target!(agentbox::fuzz::agent_definition);
