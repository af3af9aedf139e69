#![no_main]
agentbox_fuzz::target!(agentbox::fuzz::local_tool_calls);
