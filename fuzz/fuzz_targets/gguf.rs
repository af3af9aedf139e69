#![no_main]
agentbox_fuzz::target!(agentbox::fuzz::gguf_header);
