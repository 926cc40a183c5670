//! Logic statements, as `when` and `unless` take them: a value (true unless it is false, null,
//! 0, NaN or empty text) or `and`, `or`, `not`, `equal` and `matches` over statements.

use crate::ci_config::node::{Kind, Node, Value};
use crate::ci_config::patterns::Patterns;
use crate::ci_config::problems::Problems;

/// Whether `statement` holds; a malformed one is a problem (naming `owner`) and does not hold.
pub(crate) fn holds(
    statement: &Node,
    owner: &str,
    p: &mut Problems,
    patterns: &mut Patterns,
) -> bool {
    match &statement.value {
        Value::Scalar(s) => match s.kind {
            Kind::Null => false,
            Kind::Bool(b) => b,
            Kind::Int(i) => i != 0,
            Kind::Float => s.text.parse::<f64>().is_ok_and(|f| f != 0.0 && !f.is_nan()),
            Kind::Str => !s.text.is_empty(),
        },
        Value::Seq(items) => !items.is_empty(),
        Value::Map(map) => {
            let Some(e) = map.iter().next().filter(|_| map.len() == 1) else {
                p.at(statement.mark, format!("{owner}: a logic statement is a value or one of and, or, not, equal, matches"));
                return false;
            };
            let args = &e.value;
            let list = |p: &mut Problems| -> &[Node] {
                match args.as_seq() {
                    Some(items) => items,
                    None => {
                        p.at(args.mark, format!("{owner}: `{}` takes a list", e.key));
                        &[]
                    }
                }
            };
            match e.key.as_str() {
                // Without arguments a statement is false (CircleCI's rule).
                "and" => {
                    let items = list(p);
                    // Every operand is checked, so each mistake in one is reported.
                    let results: Vec<bool> =
                        items.iter().map(|i| holds(i, owner, p, patterns)).collect();
                    !results.is_empty() && results.iter().all(|b| *b)
                }
                "or" => {
                    let results: Vec<bool> = list(p)
                        .iter()
                        .map(|i| holds(i, owner, p, patterns))
                        .collect();
                    results.iter().any(|b| *b)
                }
                "not" => !holds(args, owner, p, patterns),
                "equal" => {
                    let items = list(p);
                    !items.is_empty() && items.windows(2).all(|w| same(&w[0], &w[1]))
                }
                "matches" => matches(args, owner, p, patterns),
                other => {
                    p.at(
                        e.key_mark,
                        format!("{owner}: `{other}` is not a logic statement; they are and, or, not, equal and matches"),
                    );
                    false
                }
            }
        }
    }
}

/// Whether two values are equal: scalars of the same type with the same value, lists and
/// mappings item by item.
fn same(a: &Node, b: &Node) -> bool {
    match (&a.value, &b.value) {
        (Value::Scalar(x), Value::Scalar(y)) => match (x.kind, y.kind) {
            (Kind::Int(i), Kind::Int(j)) => i == j,
            (Kind::Bool(i), Kind::Bool(j)) => i == j,
            (Kind::Null, Kind::Null) => true,
            (Kind::Float, Kind::Float) => x.text.parse::<f64>().ok() == y.text.parse::<f64>().ok(),
            (Kind::Str, Kind::Str) => x.text == y.text,
            _ => false,
        },
        (Value::Seq(x), Value::Seq(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| same(a, b))
        }
        (Value::Map(x), Value::Map(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|e| y.get(&e.key).is_some_and(|v| same(&e.value, v)))
        }
        _ => false,
    }
}

/// `matches: {pattern: …, value: …}`: the whole value matches the regular expression.
fn matches(args: &Node, owner: &str, p: &mut Problems, patterns: &mut Patterns) -> bool {
    let (Some(pattern), Some(value)) = (
        args.get("pattern").and_then(Node::scalar_text),
        args.get("value")
            .map(|v| v.scalar_text().unwrap_or_default()),
    ) else {
        p.at(
            args.mark,
            format!("{owner}: `matches` takes a `pattern` and a `value`"),
        );
        return false;
    };
    match patterns.whole(pattern) {
        Some(re) => re.is_match(value),
        None => {
            p.at(
                args.mark,
                format!("{owner}: `matches` pattern /{pattern}/ is not a valid regular expression"),
            );
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eval(yaml: &str) -> (bool, usize) {
        let doc = crate::ci_config::yaml::load(&format!("s: {yaml}")).unwrap();
        let mut p = Problems::default();
        let r = holds(
            doc[0].root.get("s").unwrap(),
            "workflow 'w'",
            &mut p,
            &mut Patterns::default(),
        );
        (r, p.count())
    }

    #[test]
    fn values_are_true_unless_empty_zero_false_or_null() {
        for t in ["true", "yes", "1", "-1", "0.5", "x", "'false'", "[a]"] {
            assert_eq!(eval(t), (true, 0), "{t}");
        }
        for f in ["false", "no", "0", "0.0", ".nan", "''", "~", "[]"] {
            assert_eq!(eval(f), (false, 0), "{f}");
        }
    }

    #[test]
    fn statements_combine() {
        assert_eq!(eval("{and: [true, x]}"), (true, 0));
        assert_eq!(eval("{and: []}"), (false, 0));
        assert_eq!(eval("{or: [false, '']}"), (false, 0));
        assert_eq!(eval("{or: [false, {not: false}]}"), (true, 0));
        assert_eq!(eval("{equal: [main, main]}"), (true, 0));
        assert_eq!(eval("{equal: [1, '1']}"), (false, 0));
        assert_eq!(eval("{equal: [2, 2, 3]}"), (false, 0));
        assert_eq!(
            eval("{matches: {pattern: '^release/.*', value: release/1.2}}"),
            (true, 0)
        );
        assert_eq!(
            eval("{matches: {pattern: 'main', value: not-main}}"),
            (false, 0)
        );
    }

    #[test]
    fn malformed_statements_are_problems() {
        assert_eq!(eval("{nand: [true]}"), (false, 1));
        assert_eq!(eval("{matches: {pattern: '(', value: x}}"), (false, 1));
        assert_eq!(eval("{and: true}"), (false, 1));
        assert_eq!(eval("{a: 1, b: 2}"), (false, 1));
    }
}
