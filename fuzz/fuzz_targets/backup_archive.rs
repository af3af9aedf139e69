#![no_main]
agentbox_fuzz::target!(agentbox::fuzz::backup_archive);
