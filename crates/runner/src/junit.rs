//! Reading JUnit XML test reports, the format `store_test_results` collects: `testsuites` and
//! (possibly nested) `testsuite` elements holding `testcase`s, each with an optional
//! `failure`, `error` or `skipped` child. The dialects written by pytest, Maven Surefire, jest
//! and go-junit-report all fit this shape.

use circlet_core::runner_protocol::TestCase;
use quick_xml::Reader;
use quick_xml::events::{BytesStart, Event};
use std::path::Path;

/// A report that could not be read.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct JunitError(String);

/// Reads the report at `path`; the file is streamed, never read whole.
pub fn parse_file(path: &Path) -> Result<Vec<TestCase>, JunitError> {
    let reader = Reader::from_file(path).map_err(|e| JunitError(e.to_string()))?;
    parse(reader)
}

/// Reads a report held in memory.
pub fn parse_str(text: &str) -> Result<Vec<TestCase>, JunitError> {
    parse(Reader::from_reader(text.as_bytes()))
}

/// A `testsuite` around the cases being read: its name and file are the defaults of its cases.
struct Suite {
    name: Option<String>,
    file: Option<String>,
}

/// The `failure`, `error` or `skipped` element being read.
struct Outcome {
    result: &'static str,
    message: Option<String>,
    body: String,
}

fn parse<R: std::io::BufRead>(mut reader: Reader<R>) -> Result<Vec<TestCase>, JunitError> {
    let mut buf = Vec::new();
    let mut suites: Vec<Suite> = Vec::new();
    let mut case: Option<TestCase> = None;
    let mut outcome: Option<Outcome> = None;
    let mut cases = Vec::new();
    let mut saw_root = false;
    loop {
        let event = reader.read_event_into(&mut buf).map_err(|e| {
            JunitError(format!(
                "malformed XML at byte {}: {e}",
                reader.error_position()
            ))
        })?;
        match event {
            Event::Start(ref e) | Event::Empty(ref e) => {
                let is_empty = matches!(event, Event::Empty(_));
                match e.local_name().as_ref() {
                    b"testsuites" => saw_root = true,
                    b"testsuite" => {
                        saw_root = true;
                        if !is_empty {
                            let parent_file = suites.last().and_then(|s| s.file.clone());
                            suites.push(Suite {
                                name: attr(e, "name")?,
                                file: attr(e, "file")?.or(parent_file),
                            });
                        }
                    }
                    b"testcase" => {
                        let suite = suites.last();
                        let new = TestCase {
                            classname: attr(e, "classname")?
                                .or_else(|| suite.and_then(|s| s.name.clone()))
                                .unwrap_or_default(),
                            name: attr(e, "name")?.unwrap_or_default(),
                            file: attr(e, "file")?.or_else(|| suite.and_then(|s| s.file.clone())),
                            result: "success".into(),
                            message: None,
                            run_time: attr(e, "time")?
                                .and_then(|t| t.trim().replace(',', "").parse::<f64>().ok())
                                .filter(|t| t.is_finite() && *t >= 0.0)
                                .unwrap_or(0.0),
                        };
                        if is_empty {
                            cases.push(new);
                        } else {
                            case = Some(new);
                        }
                    }
                    name @ (b"failure" | b"error" | b"skipped") if case.is_some() => {
                        let result = match name {
                            b"failure" => "failure",
                            b"error" => "error",
                            _ => "skipped",
                        };
                        let found = Outcome {
                            result,
                            message: attr(e, "message")?.filter(|m| !m.trim().is_empty()),
                            body: String::new(),
                        };
                        if is_empty {
                            apply(case.as_mut(), found);
                        } else {
                            outcome = Some(found);
                        }
                    }
                    _ => {}
                }
            }
            Event::Text(ref t) => {
                if let Some(o) = outcome.as_mut() {
                    let text = t.xml_content().map_err(|e| JunitError(e.to_string()))?;
                    o.body.push_str(&text);
                }
            }
            Event::CData(ref t) => {
                if let Some(o) = outcome.as_mut() {
                    let text = t.xml_content().map_err(|e| JunitError(e.to_string()))?;
                    o.body.push_str(&text);
                }
            }
            Event::GeneralRef(ref r) => {
                if let Some(o) = outcome.as_mut() {
                    let name = r.decode().map_err(|e| JunitError(e.to_string()))?;
                    if let Some(c) = r
                        .resolve_char_ref()
                        .map_err(|e| JunitError(e.to_string()))?
                    {
                        o.body.push(c);
                    } else if let Some(s) = quick_xml::escape::resolve_predefined_entity(&name) {
                        o.body.push_str(s);
                    }
                }
            }
            Event::End(ref e) => match e.local_name().as_ref() {
                b"testsuite" => {
                    suites.pop();
                }
                b"testcase" => {
                    if let Some(c) = case.take() {
                        cases.push(c);
                    }
                }
                b"failure" | b"error" | b"skipped" => {
                    if let Some(o) = outcome.take() {
                        apply(case.as_mut(), o);
                    }
                }
                _ => {}
            },
            Event::Eof => break,
            _ => {}
        }
        buf.clear();
    }
    if !saw_root {
        return Err(JunitError(
            "not a JUnit report (no <testsuites> or <testsuite> element)".into(),
        ));
    }
    Ok(cases)
}

/// Records a case's outcome; a failure or error wins over a skip.
fn apply(case: Option<&mut TestCase>, o: Outcome) {
    let Some(case) = case else { return };
    if case.result != "success" && o.result == "skipped" {
        return;
    }
    case.result = o.result.into();
    let body = o.body.trim();
    case.message = match (o.message, body.is_empty()) {
        (Some(m), true) => Some(m),
        (Some(m), false) if body.starts_with(m.trim()) => Some(body.to_owned()),
        (Some(m), false) => Some(format!("{m}\n\n{body}")),
        (None, false) => Some(body.to_owned()),
        (None, true) => None,
    };
}

/// The unescaped value of attribute `name`, if present.
fn attr(e: &BytesStart<'_>, name: &str) -> Result<Option<String>, JunitError> {
    match e.try_get_attribute(name) {
        Ok(Some(a)) => a
            .unescape_value()
            .map(|v| Some(v.into_owned()))
            .map_err(|err| JunitError(format!("attribute {name}: {err}"))),
        Ok(None) => Ok(None),
        Err(err) => Err(JunitError(format!("attribute {name}: {err}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> std::path::PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/junit")
            .join(name)
    }

    fn by_name<'a>(cases: &'a [TestCase], name: &str) -> &'a TestCase {
        cases
            .iter()
            .find(|c| c.name == name)
            .unwrap_or_else(|| panic!("no case {name} in {cases:#?}"))
    }

    #[test]
    fn a_pytest_report() {
        let cases = parse_file(&fixture("pytest.xml")).unwrap();
        assert_eq!(cases.len(), 5);
        let add = by_name(&cases, "test_add");
        assert_eq!(add.classname, "tests.test_math");
        assert_eq!(add.result, "success");
        assert_eq!(add.message, None);
        assert!((add.run_time - 0.001).abs() < 1e-9);

        let div = by_name(&cases, "test_div_by_zero");
        assert_eq!(div.result, "failure");
        let msg = div.message.as_deref().unwrap();
        assert!(
            msg.starts_with("ZeroDivisionError: division by zero\n\n"),
            "{msg}"
        );
        assert!(msg.contains(">       assert 1 / 0 == 0"), "{msg}");

        assert_eq!(by_name(&cases, "test_skip_me").result, "skipped");
        let err = by_name(&cases, "test_fixture");
        assert_eq!(err.result, "error");
        assert!(
            err.message
                .as_deref()
                .unwrap()
                .starts_with("failed on setup with \"FileNotFoundError: data.csv\""),
            "{err:?}"
        );
        assert_eq!(by_name(&cases, "test_unicode[café]").result, "success");
    }

    #[test]
    fn a_surefire_report_with_cdata_and_a_bare_testsuite_root() {
        let cases = parse_file(&fixture("surefire.xml")).unwrap();
        let names: Vec<_> = cases.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(
            names,
            ["buildsAWidget", "refusesNegativeSizes", "paintsAWidget"]
        );
        let failed = &cases[1];
        assert_eq!(failed.result, "failure");
        assert_eq!(failed.classname, "com.acme.widget.WidgetTest");
        let msg = failed.message.as_deref().unwrap();
        assert!(
            msg.starts_with("expected: <true> but was: <false>"),
            "{msg}"
        );
        assert!(msg.contains("WidgetTest.java:27"), "{msg}");
        // system-out is not part of the failure.
        assert!(!msg.contains("building widget"), "{msg}");
        assert!((cases[1].run_time - 0.031).abs() < 1e-9);
    }

    #[test]
    fn a_jest_report_where_cases_inherit_the_suite_file() {
        let cases = parse_file(&fixture("jest.xml")).unwrap();
        assert_eq!(cases.len(), 3);
        assert_eq!(cases[0].file.as_deref(), Some("src/cart.test.js"));
        assert_eq!(cases[1].result, "failure");
        assert!(
            cases[1]
                .message
                .as_deref()
                .unwrap()
                .starts_with("Error: expect(received).toBe(expected)")
        );
        assert_eq!(cases[2].result, "skipped");
        assert_eq!(cases[2].file.as_deref(), Some("src/cart.test.js"));
        assert_eq!(cases[2].run_time, 0.0);
    }

    #[test]
    fn nested_suites_name_cases_without_a_classname() {
        let cases = parse_str(
            r#"<testsuites><testsuite name="outer"><testsuite name="inner" file="a.go">
                 <testcase name="TestX" time="1,234.5"/></testsuite>
                 <testcase name="TestY"><failure/></testcase></testsuite></testsuites>"#,
        )
        .unwrap();
        assert_eq!(cases[0].classname, "inner");
        assert_eq!(cases[0].file.as_deref(), Some("a.go"));
        assert_eq!(cases[0].run_time, 1234.5);
        assert_eq!(cases[1].classname, "outer");
        assert_eq!(cases[1].file, None);
        assert_eq!(cases[1].result, "failure");
        assert_eq!(cases[1].message, None);
    }

    #[test]
    fn broken_and_foreign_files_are_errors() {
        let e = parse_file(&fixture("broken.xml")).unwrap_err();
        assert!(e.to_string().contains("malformed XML"), "{e}");
        let e = parse_str("<html><body>hi</body></html>").unwrap_err();
        assert!(e.to_string().contains("not a JUnit report"), "{e}");
        assert!(parse_file(Path::new("/nonexistent/report.xml")).is_err());
    }
}
