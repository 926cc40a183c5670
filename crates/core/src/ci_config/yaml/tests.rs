use super::*;
use proptest::prelude::*;
use yaml_rust2::{Yaml, YamlLoader};

fn trees(docs: &[Document]) -> Vec<Yaml> {
    docs.iter().map(|d| d.root.to_yaml()).collect()
}

fn deep_block_mapping(depth: usize) -> String {
    (0..depth)
        .map(|i| format!("{}a:\n", " ".repeat(i)))
        .collect::<String>()
        + &" ".repeat(depth)
        + "x\n"
}

fn same_as_yaml_loader(text: &str) {
    let ours = load(text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    let theirs = YamlLoader::load_from_str(text).unwrap();
    assert_eq!(trees(&ours), theirs, "{text}");
}

#[test]
fn ordinary_yaml_loads_as_yaml_loader_loads_it() {
    for text in [
        "",
        "# only a comment\n",
        "---\n",
        "x",
        "a: 1\nb: 2.5\nc: true\nd: ~\ne: 'quoted'\nf: \"dq\\n\"\ng: 0x1f\nh: 0o17\ni: +3\nj: -4\n",
        "k: .inf\nl: .NaN\nm: 1e3\nn: null\no: False\np: 12abc\n",
        "list:\n  - a\n  - {b: c, d: [e, f]}\n  - - nested\n    - seq\n",
        "block: |\n  line one\n  line two\nfolded: >-\n  folded\n  text\n",
        "tags: [!!str 12, !!int '7', !!float '2.5', !!bool 'true', !!null '~', !custom x]\n",
        "defaults: &d {image: cimg/base, shell: bash}\njob: {executor: *d, other: *d}\n",
        "a: &x 1\nb: *x\nc: &x 2\nd: *x\n",
        "first: doc\n---\nsecond: doc\n...\n",
        "empty_values:\n  a:\n  b: []\n  c: {}\n",
        "version: 2.1\njobs:\n  build:\n    docker:\n      - image: cimg/base:stable\n    steps:\n      - checkout\n      - run: make\n",
    ] {
        same_as_yaml_loader(text);
    }
}

#[test]
fn copies_kept_for_nested_anchors_count() {
    // No alias at all, but 60 anchors each keeping a copy of a 20,000-item list.
    let items = vec!["x"; 20_000].join(",");
    let anchors: String = (0..60).map(|i| format!("&a{i} [")).collect();
    let text = format!("{anchors}{items}{}", "]".repeat(60));
    assert_eq!(
        load(&text),
        Err(YamlError::TooManyNodes {
            through_aliases: true
        })
    );
}

#[test]
fn text_copied_through_aliases_is_bounded() {
    let text = format!(
        "a: &a '{}'\nb: [{}]\n",
        "x".repeat(100_000),
        vec!["*a"; 50].join(",")
    );
    assert_eq!(
        load(&text),
        Err(YamlError::TooMuchText {
            through_aliases: true
        })
    );
    let e = YamlError::TooMuchText {
        through_aliases: true,
    };
    assert!(
        e.to_string()
            .contains("4194304 bytes of text through its aliases")
    );
}

#[test]
fn a_deep_block_mapping_is_refused() {
    let e = load(&deep_block_mapping(1_000)).unwrap_err();
    assert_eq!(
        e,
        YamlError::TooDeep {
            line: MAX_DEPTH + 1
        }
    );
}

#[test]
fn nesting_past_the_scanners_own_limit_reads_as_too_deep() {
    let text = format!("{}x{}", "{a: ".repeat(300), "}".repeat(300));
    assert!(matches!(load(&text), Err(YamlError::TooDeep { .. })));
}

#[test]
fn depth_is_counted_to_the_level() {
    let flow = |depth| format!("{}x{}", "[".repeat(depth), "]".repeat(depth));
    let block = |depth| format!("{}x", "- ".repeat(depth));
    assert!(load(&flow(MAX_DEPTH)).is_ok());
    assert!(load(&block(MAX_DEPTH)).is_ok());
    assert_eq!(
        load(&flow(MAX_DEPTH + 1)),
        Err(YamlError::TooDeep { line: 1 })
    );
    assert_eq!(
        load(&block(MAX_DEPTH + 1)),
        Err(YamlError::TooDeep { line: 1 })
    );
    // An alias counts the depth of what it copies.
    let anchored = format!("{}x{}", "[".repeat(40), "]".repeat(40));
    let ok = format!(
        "a: &a {anchored}\nb: {}*a{}\n",
        "[".repeat(23),
        "]".repeat(23)
    );
    assert!(load(&ok).is_ok(), "1 + 23 + 40 levels");
    let deep = format!(
        "a: &a {anchored}\nb: {}*a{}\n",
        "[".repeat(24),
        "]".repeat(24)
    );
    assert_eq!(load(&deep), Err(YamlError::TooDeep { line: 2 }));
}

#[test]
fn nodes_are_counted_to_the_node() {
    // The list itself and its items.
    let fits = format!("[{}]", vec!["x"; MAX_NODES - 1].join(","));
    assert_eq!(load(&fits).map(|d| d.len()), Ok(1));
    let over = format!("[{}]", vec!["x"; MAX_NODES].join(","));
    assert_eq!(
        load(&over),
        Err(YamlError::TooManyNodes {
            through_aliases: false
        })
    );
    assert_eq!(
        YamlError::TooManyNodes {
            through_aliases: false
        }
        .to_string(),
        "config has more than 250000 nodes"
    );
}

#[test]
fn input_past_the_size_limit_is_not_parsed() {
    let text = format!("a: '{}'", "x".repeat(MAX_CONFIG_BYTES));
    assert_eq!(load(&text), Err(YamlError::TooLarge));
}

#[test]
fn errors_read_as_sentences() {
    assert_eq!(
        load("a: 1\nb: [x, y\n").unwrap_err().to_string(),
        "config is not valid YAML: while parsing a flow sequence, expected ',' or ']' (line 3, column 1)"
    );
    assert_eq!(
        load("jobs:\n  build: {}\n  build: {}\n")
            .unwrap_err()
            .to_string(),
        "config is not valid YAML: key 'build' appears twice in one mapping (line 3, column 3)"
    );
    assert_eq!(
        load("? [complex, key]\n: value\n").unwrap_err().to_string(),
        "config is not valid YAML: a mapping key must be text, not a list or a mapping (line 1, column 3)"
    );
    assert_eq!(
        load("a: [!!int x]\n").unwrap_err().to_string(),
        "config is not valid YAML: 'x' is not a valid !!int (line 1, column 11)"
    );
    assert!(
        load("a: &a [*a]\n")
            .unwrap_err()
            .to_string()
            .contains("an alias refers to the node that contains it")
    );
    assert!(
        load("a: {<<: 3}\n")
            .unwrap_err()
            .to_string()
            .contains("a merge key (`<<`) takes a mapping or a list of mappings")
    );
}

fn root(text: &str) -> Node {
    load(text).unwrap().remove(0).root
}

#[test]
fn merge_keys_add_what_the_mapping_lacks_where_they_stand() {
    let n = root(
        "d: &d {image: base, shell: bash, env: {A: 1}}\njob:\n  name: j\n  <<: *d\n  shell: zsh\n",
    );
    let job = n.get("job").unwrap().as_map().unwrap();
    let keys: Vec<&str> = job.iter().map(|e| e.key.as_str()).collect();
    assert_eq!(keys, ["name", "image", "env", "shell"]);
    assert_eq!(
        job.get("shell").and_then(Node::as_str),
        Some("zsh"),
        "the mapping's own key wins"
    );
    // A list of merges: the earlier one wins; two `<<` keys in one mapping both merge.
    let n =
        root("a: &a {x: 1, y: 1}\nb: &b {y: 2, z: 2}\nl: {<<: [*a, *b]}\nt: {<<: *b, <<: *a}\n");
    let l = n.get("l").unwrap();
    assert_eq!(
        (
            l.get("x").and_then(Node::as_int),
            l.get("y").and_then(Node::as_int),
            l.get("z").and_then(Node::as_int)
        ),
        (Some(1), Some(1), Some(2))
    );
    let t = n.get("t").unwrap();
    assert_eq!(t.get("y").and_then(Node::as_int), Some(2));
    assert_eq!(t.get("x").and_then(Node::as_int), Some(1));
    // A quoted "<<" is an ordinary key.
    let n = root("m: {'<<': x}\n");
    assert_eq!(
        n.get("m").unwrap().get("<<").and_then(Node::as_str),
        Some("x")
    );
}

#[test]
fn top_level_keys_holding_anchors_are_known() {
    let d = load(
        "version: 2.1\naliases:\n  - &a {x: 1}\nreferences: {r: &r 2}\nplain: 3\njobs: {j: *a}\n",
    )
    .unwrap();
    let keys: Vec<&str> = d[0].anchor_keys.iter().map(String::as_str).collect();
    assert_eq!(keys, ["aliases", "references"]);
}

#[test]
fn nodes_know_where_they_are() {
    let n = root("a:\n  b: [x, {c: d}]\n");
    let b = n.get("a").unwrap().get("b").unwrap();
    assert_eq!(b.mark, Mark { line: 2, column: 6 });
    assert_eq!(
        b.as_seq().unwrap()[1].get("c").unwrap().mark,
        Mark {
            line: 2,
            column: 14
        }
    );
    assert_eq!(
        n.get("a")
            .unwrap()
            .as_map()
            .unwrap()
            .entry("b")
            .unwrap()
            .key_mark,
        Mark { line: 2, column: 3 }
    );
}

/// YAML-ish text: structure, anchors, aliases, tags and noise.
fn yamlish() -> impl Strategy<Value = String> {
    let token = prop_oneof![
        Just("- "),
        Just(": "),
        Just("\n"),
        Just("  "),
        Just("["),
        Just("]"),
        Just("{"),
        Just("}"),
        Just(", "),
        Just("? "),
        Just("&a "),
        Just("&b "),
        Just("*a"),
        Just("*b"),
        Just("!!str "),
        Just("'q'"),
        Just("\"d\""),
        Just("|\n  text\n"),
        Just("---\n"),
        Just("a"),
        Just("b"),
        Just("1"),
        Just("true"),
        Just("~"),
    ];
    proptest::collection::vec(token, 0..40).prop_map(|t| t.concat())
}

fn has_bad_value(y: &Yaml) -> bool {
    match y {
        Yaml::BadValue => true,
        Yaml::Array(items) => items.iter().any(has_bad_value),
        Yaml::Hash(h) => h.iter().any(|(k, v)| has_bad_value(k) || has_bad_value(v)),
        _ => false,
    }
}

/// Whether a mapping in `y` has a key that is not a string (ours are text) or is `<<`.
fn has_odd_key(y: &Yaml) -> bool {
    match y {
        Yaml::Array(items) => items.iter().any(has_odd_key),
        Yaml::Hash(h) => h
            .iter()
            .any(|(k, v)| !matches!(k, Yaml::String(s) if s != "<<") || has_odd_key(v)),
        _ => false,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    /// Whatever `YamlLoader` accepts, this loader loads the same, but for mappings with a
    /// key that is a bad value (an alias of its own anchor), which `YamlLoader` mangles.
    #[test]
    fn yamlish_text_loads_as_yaml_loader_loads_it(text in yamlish()) {
        let ours = load(&text);
        match YamlLoader::load_from_str(&text) {
            // What this loader refuses on purpose: bad values, keys that are not text.
            Ok(theirs) if theirs.iter().any(|y| has_bad_value(y) || has_odd_key(y)) => {}
            Ok(theirs) => {
                let ours = ours.map_err(|e| TestCaseError::fail(format!("{e}\n{text:?}")))?;
                prop_assert_eq!(trees(&ours), theirs, "{:?}", text);
            }
            Err(_) => prop_assert!(ours.is_err(), "{:?}", text),
        }
    }
}

/// Found by `yamlish_text_loads_as_yaml_loader_loads_it`: nothing, `~` and `null` are one key
/// (null) however each is spelled, so a mapping holding two of them holds a key twice.
#[test]
fn every_spelling_of_a_null_key_is_the_same_key() {
    for text in [
        ": |\n  text\n~: !!str ",
        ": a\n~: b",
        "~: a\nnull: b",
        "Null: a\nNULL: b",
    ] {
        let err = load(text).expect_err(text);
        assert!(err.to_string().contains("appears twice"), "{text:?}: {err}");
    }
    // A quoted empty key is text, not null.
    assert!(load("'': a\n~: b").is_ok());
}
