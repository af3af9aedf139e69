#![no_main]
agentbox_fuzz::target!(agentbox::fuzz::model_catalog);
