#![no_main]
agentbox_fuzz::target!(agentbox::fuzz::json_schema_grammar);
