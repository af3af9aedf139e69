#![no_main]
agentbox_fuzz::target!(agentbox::fuzz::chat_template);
