#![no_main]
agentbox_fuzz::target!(agentbox::fuzz::sql_check);
