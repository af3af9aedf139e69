//! `agentbox bench`: end-to-end token throughput of the in-process engine on one GGUF file.

use super::{BenchArgs, CliError};
use crate::engine::bench::{self, BenchConfig};
use crate::engine::llama::{Engine, EngineSettings, ModelSpec};

pub async fn run(args: BenchArgs) -> Result<(), CliError> {
    if !args.model.is_file() {
        return Err(CliError::Usage(format!(
            "no model file at {}",
            args.model.display()
        )));
    }
    if args.concurrency == 0 || args.tokens == 0 {
        return Err(CliError::Usage(
            "--concurrency and --tokens must be at least 1".into(),
        ));
    }
    let engine = Engine::new(EngineSettings {
        threads: args.threads,
        slots: args.concurrency,
        context_per_slot: args.context,
        batch_tokens: 512,
        memory_budget_bytes: u64::MAX,
    });
    let spec = ModelSpec {
        name: args
            .model
            .file_stem()
            .map_or_else(String::new, |s| s.to_string_lossy().into_owned()),
        path: args.model.clone(),
        context_size: Some(args.context),
        gpu_layers: args.gpu_layers,
        chat_template: None,
    };
    let config = BenchConfig {
        concurrency: args.concurrency,
        tokens: args.tokens,
        prompt_words: args.prompt_words,
    };
    let failed = |err: crate::engine::EngineError| CliError::Runtime(super::error_chain(&err));
    bench::warm_up(&engine, &spec).await.map_err(failed)?;
    let report = bench::run(&engine, &spec, &config).await.map_err(failed)?;
    if args.json {
        println!("{}", serde_json::to_string(&report).unwrap_or_default());
    } else {
        println!("model              {}", args.model.display());
        println!("threads            {}", args.threads);
        println!(
            "streams x tokens   {} x {}",
            report.concurrency, report.tokens_per_stream
        );
        println!("prompt tokens      {}", report.prompt_tokens);
        println!("prompt processing  {:.1} tok/s", report.prompt_tokens_per_second);
        println!("generation/stream  {:.1} tok/s", report.stream_tokens_per_second);
        println!(
            "aggregate          {:.1} tok/s",
            report.aggregate_tokens_per_second
        );
        println!("ttft p50           {:.1} ms", report.time_to_first_token_ms_p50);
        println!("resident memory    {:.0} MiB", report.rss_mib);
    }
    Ok(())
}
