use super::*;

fn length(text: &str) -> f32 {
    f32::from(u16::try_from(text.len()).unwrap())
}

/// Stands in for a model: the vector of a text is (its length, 1), normalised.
struct Lengths {
    calls: Vec<usize>,
}

impl Backend for Lengths {
    fn embed(&mut self, texts: &[String]) -> Result<Embeddings, EngineError> {
        self.calls.push(texts.len());
        let vectors = texts
            .iter()
            .map(|t| {
                let mut v = vec![length(t), 1.0];
                normalize(&mut v);
                v
            })
            .collect();
        Ok(Embeddings {
            vectors,
            tokens: texts.len(),
        })
    }
}

#[test]
fn batching_keeps_the_callers_order() {
    let texts: Vec<String> = ["ccc", "a", "bbbbb", "", "dd"].map(String::from).to_vec();
    let mut backend = Lengths { calls: Vec::new() };
    let done = embed_batched(&mut backend, &texts, 2).unwrap();
    assert_eq!(backend.calls, vec![2, 2, 1]);
    assert_eq!(done.tokens, 5);
    for (text, vector) in texts.iter().zip(&done.vectors) {
        let mut expected = vec![length(text), 1.0];
        normalize(&mut expected);
        assert_eq!(vector, &expected, "{text:?}");
    }
}

#[test]
fn normalize_gives_unit_length_and_leaves_zero_alone() {
    let mut v = vec![3.0, 4.0];
    normalize(&mut v);
    assert!((v[0] - 0.6).abs() < 1e-6 && (v[1] - 0.8).abs() < 1e-6);
    let mut zero = vec![0.0; 3];
    normalize(&mut zero);
    assert_eq!(zero, vec![0.0; 3]);
}

#[test]
fn cosine_of_known_vectors() {
    assert!((cosine(&[1.0, 0.0], &[1.0, 0.0]) - 1.0).abs() < 1e-6);
    assert!(cosine(&[1.0, 0.0], &[0.0, 2.0]).abs() < 1e-6);
    assert!((cosine(&[1.0, 1.0], &[-2.0, -2.0]) + 1.0).abs() < 1e-6);
}

#[test]
fn detect_chooses_the_backend_by_path() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("model");
    std::fs::create_dir(&model).unwrap();
    std::fs::write(model.join("config.json"), "{}").unwrap();
    let err = detect(&model).unwrap_err();
    assert!(
        err.to_string().contains("model.safetensors, tokenizer.json"),
        "{err}"
    );
    std::fs::write(model.join("model.safetensors"), "").unwrap();
    std::fs::write(model.join("tokenizer.json"), "{}").unwrap();
    assert_eq!(detect(&model).unwrap(), EmbeddingBackend::Candle);

    let gguf = dir.path().join("e.GGUF");
    std::fs::write(&gguf, "GGUF").unwrap();
    assert_eq!(detect(&gguf).unwrap(), EmbeddingBackend::LlamaCpp);
    let other = dir.path().join("e.bin");
    std::fs::write(&other, "x").unwrap();
    assert!(matches!(detect(&other), Err(EngineError::EmbeddingModel { .. })));
    assert!(matches!(
        detect(&dir.path().join("absent.gguf")),
        Err(EngineError::ModelMissing(_))
    ));
}

#[tokio::test]
async fn a_broken_model_folder_fails_to_load_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    for file in ["config.json", "model.safetensors", "tokenizer.json"] {
        std::fs::write(dir.path().join(file), "not what it should be").unwrap();
    }
    let err = Embedder::load(dir.path(), EmbedderOptions::default())
        .await
        .unwrap_err();
    assert!(matches!(err, EngineError::EmbeddingModel { .. }), "{err}");
    assert!(err.to_string().contains("config.json"), "{err}");
}
