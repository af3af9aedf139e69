#![no_main]
agentbox_fuzz::target!(agentbox::fuzz::sse_events);
