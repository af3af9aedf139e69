#![no_main]
agentbox_fuzz::target!(agentbox::fuzz::eval_suite);
