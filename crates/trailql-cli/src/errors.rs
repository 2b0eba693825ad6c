//! An error as the user reads it: one line, each cause once, without the engine's names for
//! the layer it passed through.
//!
//! anyhow's `{:#}` prints every cause of the chain after the error, but DataFusion's and the S3
//! errors already hold their sources' text, so each would be said twice.

/// Where in the engine an error arose: nothing the reader can act on.
const LAYERS: [&str; 5] = [
    "External error: ",
    "Execution error: ",
    "Arrow error: ",
    "Parquet error: ",
    "Object Store error: ",
];

/// `e` and its causes on one line, each said once.
pub(crate) fn describe(e: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        let mut t = text.trim();
        while let Some(rest) = LAYERS.iter().find_map(|l| t.strip_prefix(l)) {
            t = rest.trim_start();
        }
        if t.is_empty() || line.contains(t) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(t);
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;
    use anyhow::Context;
    use datafusion::error::DataFusionError;

    #[derive(Debug)]
    struct NoCredentials;

    impl std::fmt::Display for NoCredentials {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("no usable AWS credentials: IMDS is disabled. Set AWS_PROFILE or --profile")
        }
    }

    impl std::error::Error for NoCredentials {}

    #[test]
    fn each_cause_is_said_once_without_the_engines_layers() {
        let e = anyhow::Error::new(DataFusionError::External(Box::new(NoCredentials)));
        assert_eq!(
            describe(&e),
            "no usable AWS credentials: IMDS is disabled. Set AWS_PROFILE or --profile"
        );

        let e = Err::<(), _>(DataFusionError::Execution(
            "/lake/a.parquet: damaged".into(),
        ))
        .context("query over the lake /lake")
        .unwrap_err();
        assert_eq!(
            describe(&e),
            "query over the lake /lake: /lake/a.parquet: damaged"
        );

        let e = anyhow::anyhow!("source /x: does not exist (check the path)");
        assert_eq!(describe(&e), "source /x: does not exist (check the path)");
    }
}
