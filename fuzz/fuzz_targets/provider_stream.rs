#![no_main]
agentbox_fuzz::target!(agentbox::fuzz::provider_stream);
