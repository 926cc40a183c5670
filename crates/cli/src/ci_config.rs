//! `circlet config validate` and `circlet config process`: a CircleCI config compiled as a
//! pipeline would compile it, on this machine, without a server.

use anyhow::Context;
use circlet_core::ci_config::{self, NoOrbs, ParamValue, PipelineContext};
use std::io::Read;
use std::path::PathBuf;

/// Which config, and the pipeline it is compiled for.
#[derive(clap::Args)]
pub struct ConfigFileArgs {
    /// The config to read; `-` reads standard input.
    #[arg(default_value = ".circleci/config.yml")]
    file: PathBuf,
    /// The branch the pipeline builds (`<< pipeline.git.branch >>`).
    #[arg(long, default_value = "main")]
    branch: String,
    /// Build this tag instead of a branch (`<< pipeline.git.tag >>`).
    #[arg(long)]
    tag: Option<String>,
    /// A pipeline parameter, `NAME=VALUE` (repeat for more): `true`/`false` and whole numbers
    /// are booleans and integers, anything else text.
    #[arg(long = "pipeline-parameter", value_name = "NAME=VALUE")]
    parameters: Vec<String>,
}

impl ConfigFileArgs {
    fn compile(&self) -> anyhow::Result<ci_config::Compiled> {
        let text = if self.file.as_os_str() == "-" {
            let mut text = String::new();
            std::io::stdin()
                .take(ci_config::MAX_CONFIG_BYTES as u64 + 1)
                .read_to_string(&mut text)
                .context("reading the config from standard input")?;
            text
        } else {
            std::fs::read_to_string(&self.file)
                .with_context(|| format!("reading {}", self.file.display()))?
        };
        let mut parameters = std::collections::BTreeMap::new();
        for p in &self.parameters {
            let (name, value) = p
                .split_once('=')
                .with_context(|| format!("--pipeline-parameter {p}: write it as NAME=VALUE"))?;
            let value = match value {
                "true" => ParamValue::Bool(true),
                "false" => ParamValue::Bool(false),
                v => v
                    .parse()
                    .map_or_else(|_| ParamValue::Str(v.to_owned()), ParamValue::Int),
            };
            parameters.insert(name.to_owned(), value);
        }
        let ctx = PipelineContext {
            branch: self.tag.is_none().then(|| self.branch.clone()),
            tag: self.tag.clone(),
            revision: "0".repeat(40),
            number: 1,
            trigger_source: "api".into(),
            parameters,
            ..PipelineContext::default()
        };
        ci_config::compile(&text, &ctx, &NoOrbs).map_err(|errors| {
            for e in &errors.0 {
                eprintln!("  - {e}");
            }
            anyhow::anyhow!(
                "{} is not a valid config ({} problem{} above)",
                self.file.display(),
                errors.0.len(),
                if errors.0.len() == 1 { "" } else { "s" }
            )
        })
    }
}

/// Checks the config; says so when it is valid.
pub fn validate(args: &ConfigFileArgs) -> anyhow::Result<()> {
    args.compile()?;
    println!("Config file at {} is valid.", args.file.display());
    Ok(())
}

/// Prints the config expanded to CircleCI 2.0's form, as a pipeline would run it.
pub fn process(args: &ConfigFileArgs) -> anyhow::Result<()> {
    print!("{}", args.compile()?.processed);
    Ok(())
}
