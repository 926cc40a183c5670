//! Every real config in `tests/real_configs/` (its README says where each came from) compiled
//! and planned for pushes to `main` and `master`: each is accepted with the jobs written here,
//! or refused for the reason written here, and nothing else.

use crate::ci_config::{
    ConfigErrors, GitRef, MemoryOrbs, PipelineContext, Selection, compile, plan,
};
use std::path::PathBuf;

enum Expected {
    /// Accepted; a push to `main` runs this many jobs, one to `master` that many.
    Accepted(usize, usize),
    /// Refused, with a problem that contains this.
    Refused(&'static str),
}
use Expected::{Accepted, Refused};

const NOT_PUBLISHED: &str = "is not published in this circlet";

/// What each config of the corpus must come to. A reason for refusal is one CircleCI gives
/// too (invalid YAML, a key it does not have), or an orb that is not published here (the
/// corpus test publishes none).
const EXPECTED: &[(&str, Expected)] = &[
    ("CircleCI-Public__aws-ecr-orb.yml", Refused(NOT_PUBLISHED)),
    ("CircleCI-Public__circleci-cli.yml", Accepted(13, 6)),
    // `pod:` and `shell:` steps are not CircleCI's (the demo predates 2.0's release).
    (
        "CircleCI-Public__circleci-demo-docker.yml",
        Refused("key `pod` is not a job's"),
    ),
    ("CircleCI-Public__circleci-demo-go.yml", Accepted(1, 1)),
    (
        "CircleCI-Public__circleci-demo-javascript-express.yml",
        Accepted(1, 1),
    ),
    (
        "CircleCI-Public__circleci-demo-python-django.yml",
        Refused(NOT_PUBLISHED),
    ),
    // `checkout` has no `at`.
    (
        "CircleCI-Public__circleci-demo-react-native.yml",
        Refused("`at` is not a key of `checkout`"),
    ),
    (
        "CircleCI-Public__circleci-demo-ruby-rails.yml",
        Accepted(1, 1),
    ),
    // `persist_to_workspace` without its required `root`.
    (
        "CircleCI-Public__circleci-demo-workflows.yml",
        Refused("`root` is required"),
    ),
    // Orbs at development versions (`@dev:alpha`), which only CircleCI's registry has.
    (
        "CircleCI-Public__node-orb.yml",
        Refused("names a development version"),
    ),
    (
        "CircleCI-Public__orb-tools-orb.yml",
        Refused("names a development version"),
    ),
    (
        "CircleCI-Public__slack-orb.yml",
        Refused("names a development version"),
    ),
    ("OpenZeppelin__openzeppelin-contracts.yml", Accepted(1, 1)),
    // Not YAML: an anchor's alias used as a key without the `:` YAML needs.
    ("ReactiveX__rxjs.yml", Refused("config is not valid YAML")),
    ("apollographql__apollo-client.yml", Accepted(5, 5)),
    ("astropy__astropy.yml", Accepted(4, 2)),
    (
        "circle-makotom__circle-simple-path-filtering.yml",
        Refused(NOT_PUBLISHED),
    ),
    ("codingric__moneyman.yml", Refused(NOT_PUBLISHED)),
    ("codingtools__cdt.yml", Accepted(1, 1)),
    ("coditsu__macros.yml", Accepted(2, 2)),
    ("codius__codiusd.yml", Accepted(2, 2)),
    ("codnect__chrono.yml", Refused(NOT_PUBLISHED)),
    ("codrasil__punchcard.yml", Accepted(1, 1)),
    ("codurance__open-space.yml", Accepted(1, 1)),
    // Orbs in a `version: 2` config.
    (
        "codurance__openspace-backend.yml",
        Refused("`orbs` needs `version: 2.1`"),
    ),
    ("codurance__site.yml", Accepted(2, 2)),
    ("codyBiem17__DevOps_Microservices.yml", Accepted(1, 1)),
    ("codyBiem17__cdond-c3-projectstarter.yml", Accepted(6, 6)),
    ("codyleyhan__gqlgen.yml", Accepted(1, 1)),
    ("codymikol__karma-webpack.yml", Accepted(5, 6)),
    ("codypaste__codypaste-cli.yml", Accepted(1, 1)),
    ("codyps__buildid.yml", Refused(NOT_PUBLISHED)),
    (
        "codyshepherd__influxdb.yml",
        Refused("config is not valid YAML"),
    ),
    ("codysoyland__go-pilosa.yml", Accepted(5, 5)),
    ("coecms__clef.yml", Accepted(2, 2)),
    // Tabs for indentation: not YAML.
    ("coffee-driven-dev__v-cache.yml", Refused("tabs disallowed")),
    ("coffeebuz__customerapp.yml", Accepted(0, 1)),
    ("cofiem__music-playlists.yml", Accepted(1, 1)),
    ("cogeotiff__rio-cogeo.yml", Accepted(2, 2)),
    ("facebook__docusaurus.yml", Accepted(0, 2)),
    ("facebook__jest.yml", Refused(NOT_PUBLISHED)),
    ("facebook__react.yml", Accepted(32, 34)),
    (
        "getlocalci__circle-advanced-setup-workflow.yml",
        Refused(NOT_PUBLISHED),
    ),
    ("gorilla__mux.yml", Accepted(7, 7)),
    ("gorilla__websocket.yml", Accepted(4, 4)),
    ("influxdata__telegraf.yml", Accepted(1, 1)),
    ("localstack__localstack.yml", Accepted(13, 14)),
    ("matplotlib__matplotlib.yml", Accepted(1, 1)),
    ("mne-tools__mne-python.yml", Accepted(3, 2)),
    ("networkx__networkx.yml", Accepted(1, 1)),
    ("numpy__numpy.yml", Accepted(1, 1)),
    ("pandas-dev__pandas.yml", Accepted(5, 5)),
    ("prettier__prettier.yml", Accepted(5, 5)),
    ("scikit-learn__scikit-learn.yml", Accepted(4, 4)),
    ("scipy__scipy.yml", Accepted(5, 4)),
    ("sfackler__rust-openssl.yml", Accepted(21, 21)),
    ("sfackler__rust-postgres.yml", Accepted(1, 1)),
    ("sphinx-gallery__sphinx-gallery.yml", Accepted(4, 5)),
    ("vuejs__vue.yml", Accepted(5, 5)),
    ("wagtail__wagtail.yml", Accepted(4, 4)),
    ("yarnpkg__yarn.yml", Accepted(8, 8)),
];

/// The corpus, by file name.
pub(crate) fn corpus() -> Vec<(String, String)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/real_configs");
    let mut files: Vec<(String, String)> = std::fs::read_dir(&dir)
        .expect("the corpus directory")
        .filter_map(|e| {
            let path = e.ok()?.path();
            (path.extension()? == "yml").then(|| {
                let name = path.file_name().unwrap().to_string_lossy().into_owned();
                let text = std::fs::read_to_string(&path).expect("readable");
                (name, text)
            })
        })
        .collect();
    files.sort();
    files
}

fn ctx() -> PipelineContext {
    PipelineContext {
        branch: Some("main".into()),
        revision: "0".repeat(40),
        number: 1,
        ..Default::default()
    }
}

fn jobs_on(config: &crate::ci_config::CiConfig, branch: &str) -> Result<usize, ConfigErrors> {
    plan(config, GitRef::Branch(branch), Selection::Workflows)
        .map(|p| p.iter().map(|w| w.jobs.len()).sum())
        .map_err(|e| ConfigErrors(vec![e]))
}

#[test]
fn every_real_config_is_accepted_or_refused_for_its_reason() {
    let corpus = corpus();
    let names: Vec<&str> = corpus.iter().map(|(n, _)| n.as_str()).collect();
    let listed: Vec<&str> = EXPECTED.iter().map(|(n, _)| *n).collect();
    assert_eq!(
        names, listed,
        "every file of the corpus has its expectation, in order"
    );
    let mut wrong = Vec::new();
    for ((name, text), (_, expected)) in corpus.iter().zip(EXPECTED) {
        let got = compile(text, &ctx(), &MemoryOrbs::default())
            .and_then(|c| Ok((jobs_on(&c.config, "main")?, jobs_on(&c.config, "master")?)));
        match (expected, got) {
            (Accepted(a, b), Ok(got)) if (*a, *b) == got => {}
            (Refused(why), Err(e)) if e.0.iter().any(|m| m.contains(why)) => {
                // Each problem once, and never a debug rendering.
                let mut seen = e.0.clone();
                seen.dedup();
                assert_eq!(seen.len(), e.0.len(), "{name}: {e}");
                assert!(!e.to_string().contains("String(\""), "{name}: {e}");
            }
            (_, got) => wrong.push(format!("{name}: {got:?}")),
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn an_accepted_configs_processed_form_compiles_to_the_same_config() {
    for (name, text) in corpus() {
        let Ok(first) = compile(&text, &ctx(), &MemoryOrbs::default()) else {
            continue;
        };
        let again = compile(&text, &ctx(), &MemoryOrbs::default()).unwrap();
        assert_eq!(first.processed, again.processed, "{name}: deterministic");
        let processed =
            compile(&first.processed, &ctx(), &MemoryOrbs::default()).unwrap_or_else(|e| {
                panic!(
                    "{name}: the processed config is refused: {e}\n{}",
                    first.processed
                )
            });
        assert_eq!(processed.config.jobs, first.config.jobs, "{name}");
        assert_eq!(processed.config.workflows, first.config.workflows, "{name}");
        assert_eq!(
            processed.processed, first.processed,
            "{name}: processing is idempotent"
        );
    }
}
