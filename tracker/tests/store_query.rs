//! The search language: parse/print round trips, errors that name position and token, and
//! search results equal to a brute-force filter and sort over the same runs in a real store.

mod common;

use std::cmp::Ordering;
use std::sync::OnceLock;

use common::open_store;
use proptest::prelude::*;
use rand::{Rng, SeedableRng};
use tracker::entities::{Metric, Param, Run, RunStatus, RunTag, ViewType};
use tracker::query::{Attribute, Clause, Filter, Identifier, Op, OrderBy, Value, like_matches};
use tracker::store::{CreateRun, SearchRuns, Store};

// ----- round trip -----

fn key() -> impl Strategy<Value = String> {
    prop_oneof!["[a-z_][a-z0-9_]{0,8}", "[a-zA-Z0-9_. :/-]{1,12}",]
        .prop_filter("a key", |k| !k.trim().is_empty())
}

fn text() -> impl Strategy<Value = String> {
    "[ -~]{0,10}"
}

fn string_attribute() -> impl Strategy<Value = Attribute> {
    prop::sample::select(vec![
        Attribute::RunName,
        Attribute::Status,
        Attribute::UserId,
        Attribute::ArtifactUri,
        Attribute::RunId,
    ])
}

/// `attributes.start_time` (or `end_time`) `op n`.
fn time_clause(start: bool, op: Op, n: i64) -> Clause {
    Clause {
        identifier: Identifier::Attribute(if start {
            Attribute::StartTime
        } else {
            Attribute::EndTime
        }),
        op,
        value: Value::Integer(n),
    }
}

fn clause() -> impl Strategy<Value = Clause> {
    let numeric_ops = prop::sample::select(vec![Op::Eq, Op::Ne, Op::Lt, Op::Le, Op::Gt, Op::Ge]);
    let string_ops = prop::sample::select(vec![Op::Eq, Op::Ne, Op::Like, Op::ILike]);
    let finite = any::<f64>().prop_filter("finite", |n| n.is_finite());
    prop_oneof![
        (key(), numeric_ops.clone(), finite).prop_map(|(k, op, n)| Clause {
            identifier: Identifier::Metric(k),
            op,
            value: Value::Number(n)
        }),
        (key(), any::<bool>(), string_ops.clone(), text()).prop_map(|(k, param, op, v)| Clause {
            identifier: if param {
                Identifier::Param(k)
            } else {
                Identifier::Tag(k)
            },
            op,
            value: Value::String(v),
        }),
        (key(), any::<bool>(), any::<bool>()).prop_map(|(k, param, null)| Clause {
            identifier: if param {
                Identifier::Param(k)
            } else {
                Identifier::Tag(k)
            },
            op: if null { Op::IsNull } else { Op::IsNotNull },
            value: Value::None,
        }),
        (string_attribute(), string_ops, text()).prop_map(|(a, op, v)| Clause {
            identifier: Identifier::Attribute(a),
            op,
            value: Value::String(v)
        }),
        (any::<bool>(), prop::collection::vec(text(), 1..4)).prop_map(|(not, items)| Clause {
            identifier: Identifier::Attribute(Attribute::RunId),
            op: if not { Op::NotIn } else { Op::In },
            value: Value::List(items),
        }),
        (any::<bool>(), numeric_ops, any::<i64>())
            .prop_map(|(start, op, n)| time_clause(start, op, n)),
    ]
}

proptest! {
    #[test]
    fn filters_print_and_parse_back_to_the_same_value(clauses in prop::collection::vec(clause(), 0..5)) {
        let filter = Filter { clauses };
        let printed = filter.to_string();
        let parsed = Filter::parse(&printed).map_err(|e| TestCaseError::fail(format!("{printed}: {e}")))?;
        prop_assert_eq!(&parsed, &filter, "{}", printed);
        prop_assert_eq!(parsed.to_string(), printed);
    }

    #[test]
    fn order_clauses_print_and_parse_back(k in key(), ascending in any::<bool>(), which in 0..4usize) {
        let identifier = match which {
            0 => Identifier::Metric(k),
            1 => Identifier::Param(k),
            2 => Identifier::Tag(k),
            _ => Identifier::Attribute(Attribute::StartTime),
        };
        let order = OrderBy { identifier, ascending };
        prop_assert_eq!(OrderBy::parse(&order.to_string()), Ok(order));
    }

    #[test]
    fn arbitrary_input_never_panics(input in "\\PC{0,40}") {
        let _ = Filter::parse(&input);
        let _ = OrderBy::parse(&input);
    }
}

#[test]
fn aliases_and_case_parse_to_canonical_form() {
    let filter = Filter::parse("metric.acc >= 0.5 and param.lr = '0.1' AND tag.\"mlflow.runName\" ILIKE 'r%' and run_name = 'x' and created > 5")
        .expect("parses");
    assert_eq!(
        filter.to_string(),
        "metrics.acc >= 0.5 AND params.lr = '0.1' AND tags.`mlflow.runName` ILIKE 'r%' AND attributes.run_name = 'x' AND attributes.start_time > 5"
    );
    assert_eq!(
        OrderBy::parse("metrics.val_loss desc")
            .expect("parses")
            .to_string(),
        "metrics.val_loss DESC"
    );
    assert!(
        OrderBy::parse("attributes.start_time")
            .expect("parses")
            .ascending
    );
}

#[test]
fn syntax_errors_name_position_and_token() {
    let cases: [(&str, usize, &str); 7] = [
        ("metrics.a < 1 OR metrics.b > 2", 14, "OR"),
        ("params.lr = 0.1", 12, "0.1"),
        ("metrics.a < '1'", 12, "'1'"),
        ("nothing.a = 'x'", 0, "nothing.a"),
        ("params.lr IN ('a')", 10, "IN"),
        ("metrics.a <", 11, ""),
        ("attributes.colour = 'red'", 0, "attributes.colour"),
    ];
    for (input, position, token) in cases {
        let error = Filter::parse(input).expect_err(input);
        assert_eq!(
            (error.position, error.token.as_str()),
            (position, token),
            "{input}: {error}"
        );
        assert!(
            error.to_string().contains(&format!("position {position}")),
            "{error}"
        );
    }
    assert!(Filter::parse("params.a = 'unterminated").is_err());
    assert!(Filter::parse("(metrics.a > 1)").is_err());
    assert!(OrderBy::parse("metrics.a ASC DESC").is_err());
}

// ----- results equal a brute-force filter over the same runs -----

const METRIC_VALUES: [f64; 7] = [-2.0, -1.0, 0.0, 0.5, 1.0, 2.0, f64::INFINITY];
const STRINGS: [&str; 6] = ["a", "ab", "B", "a%b", "x_y", "Ab"];
const PATTERNS: [&str; 8] = ["a", "a%", "%b", "_b", "A%", "%", "x_y", "a\\%b"];

struct Fixture {
    _dir: tempfile::TempDir,
    store: Store,
    experiment_id: String,
    runs: Vec<Run>,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let dir = tempfile::tempdir().expect("dir");
        let store = open_store(&dir);
        let experiment_id = store
            .create_experiment("search", None, &[])
            .expect("experiment");
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        for i in 0..40 {
            let name = STRINGS[rng.random_range(0..STRINGS.len())].to_string();
            let run = store
                .create_run(CreateRun {
                    experiment_id: experiment_id.clone(),
                    run_name: Some(name),
                    user_id: STRINGS[rng.random_range(0..STRINGS.len())].into(),
                    start_time: Some(1000 + (i % 13)),
                    tags: vec![],
                })
                .expect("run");
            let id = run.info.run_id;
            let mut metrics = Vec::new();
            for key in ["m1", "m2"] {
                match rng.random_range(0..10) {
                    0 => {}
                    1 => metrics.push(Metric {
                        key: key.into(),
                        value: f64::NAN,
                        timestamp: 1,
                        step: 3,
                    }),
                    _ => {
                        for step in 0..3 {
                            let value = METRIC_VALUES[rng.random_range(0..METRIC_VALUES.len())];
                            metrics.push(Metric {
                                key: key.into(),
                                value,
                                timestamp: 1,
                                step,
                            });
                        }
                    }
                }
            }
            let maybe = |rng: &mut rand::rngs::StdRng| -> Option<String> {
                (rng.random_range(0..4) > 0)
                    .then(|| STRINGS[rng.random_range(0..STRINGS.len())].to_string())
            };
            let params: Vec<Param> = maybe(&mut rng)
                .map(|value| Param {
                    key: "p".into(),
                    value,
                })
                .into_iter()
                .collect();
            let tags: Vec<RunTag> = maybe(&mut rng)
                .map(|value| RunTag {
                    key: "t".into(),
                    value,
                })
                .into_iter()
                .collect();
            store
                .log_batch(&id, &metrics, &params, &tags)
                .expect("logged");
            match rng.random_range(0..3) {
                0 => {}
                1 => drop(
                    store
                        .update_run(&id, Some(RunStatus::Finished), Some(2000 + i), None)
                        .expect("updated"),
                ),
                _ => drop(
                    store
                        .update_run(&id, Some(RunStatus::Failed), Some(1500 + i), None)
                        .expect("updated"),
                ),
            }
        }
        let runs = store
            .experiment_runs(&experiment_id, ViewType::ActiveOnly)
            .expect("runs");
        Fixture {
            _dir: dir,
            store,
            experiment_id,
            runs,
        }
    })
}

fn search_clause() -> impl Strategy<Value = Clause> {
    let numeric_ops = prop::sample::select(vec![Op::Eq, Op::Ne, Op::Lt, Op::Le, Op::Gt, Op::Ge]);
    let string_ops = prop::sample::select(vec![Op::Eq, Op::Ne, Op::Like, Op::ILike]);
    let strings = prop::sample::select(
        STRINGS
            .iter()
            .chain(PATTERNS.iter())
            .map(|s| s.to_string())
            .collect::<Vec<_>>(),
    );
    prop_oneof![
        (
            prop::sample::select(vec!["m1", "m2", "m3"]),
            numeric_ops.clone(),
            prop::sample::select(METRIC_VALUES[..6].to_vec())
        )
            .prop_map(|(k, op, n)| Clause {
                identifier: Identifier::Metric(k.into()),
                op,
                value: Value::Number(n)
            }),
        (any::<bool>(), string_ops.clone(), strings.clone()).prop_map(|(param, op, v)| Clause {
            identifier: if param {
                Identifier::Param("p".into())
            } else {
                Identifier::Tag("t".into())
            },
            op,
            value: Value::String(v),
        }),
        (any::<bool>(), any::<bool>()).prop_map(|(param, null)| Clause {
            identifier: if param {
                Identifier::Param("p".into())
            } else {
                Identifier::Tag("t".into())
            },
            op: if null { Op::IsNull } else { Op::IsNotNull },
            value: Value::None,
        }),
        (
            prop::sample::select(vec![Attribute::RunName, Attribute::UserId]),
            string_ops,
            strings
        )
            .prop_map(|(a, op, v)| Clause {
                identifier: Identifier::Attribute(a),
                op,
                value: Value::String(v)
            }),
        (
            prop::sample::select(vec!["RUNNING", "FINISHED", "FAILED"]),
            any::<bool>()
        )
            .prop_map(|(s, eq)| Clause {
                identifier: Identifier::Attribute(Attribute::Status),
                op: if eq { Op::Eq } else { Op::Ne },
                value: Value::String(s.into()),
            }),
        (any::<bool>(), numeric_ops, 990..2050i64)
            .prop_map(|(start, op, n)| time_clause(start, op, n)),
    ]
}

fn order_clause() -> impl Strategy<Value = OrderBy> {
    let identifier = prop_oneof![
        prop::sample::select(vec!["m1", "m2"]).prop_map(|k| Identifier::Metric(k.into())),
        Just(Identifier::Param("p".into())),
        Just(Identifier::Tag("t".into())),
        prop::sample::select(vec![
            Attribute::EndTime,
            Attribute::RunName,
            Attribute::Status
        ])
        .prop_map(Identifier::Attribute),
    ];
    (identifier, any::<bool>()).prop_map(|(identifier, ascending)| OrderBy {
        identifier,
        ascending,
    })
}

fn attribute_text(run: &Run, attribute: Attribute) -> Option<String> {
    match attribute {
        Attribute::RunId => Some(run.info.run_id.clone()),
        Attribute::RunName => Some(run.info.run_name.clone()),
        Attribute::Status => Some(run.info.status.as_str().to_string()),
        Attribute::UserId => Some(run.info.user_id.clone()),
        Attribute::ArtifactUri => Some(run.info.artifact_uri.clone()),
        _ => None,
    }
}

fn attribute_number(run: &Run, attribute: Attribute) -> Option<i64> {
    match attribute {
        Attribute::StartTime => run.info.start_time,
        Attribute::EndTime => run.info.end_time,
        _ => None,
    }
}

fn string_matches(value: Option<&str>, op: Op, expected: &Value) -> bool {
    match (op, value, expected) {
        (Op::IsNull, value, _) => value.is_none(),
        (Op::IsNotNull, value, _) => value.is_some(),
        (_, None, _) => false,
        (Op::Like, Some(v), Value::String(p)) => like_matches(v, p, false),
        (Op::ILike, Some(v), Value::String(p)) => like_matches(v, p, true),
        (Op::In, Some(v), Value::List(items)) => items.iter().any(|i| i == v),
        (Op::NotIn, Some(v), Value::List(items)) => !items.iter().any(|i| i == v),
        (op, Some(v), Value::String(s)) => op.compare(v, s.as_str()),
        _ => false,
    }
}

/// The reference semantics, written directly over the runs.
fn matches(run: &Run, clause: &Clause) -> bool {
    match (&clause.identifier, &clause.value) {
        (Identifier::Metric(key), Value::Number(n)) => match run.data.metric(key) {
            None => false,
            Some(v) if v.is_nan() => clause.op == Op::Ne,
            Some(v) => clause.op.compare(v, *n),
        },
        (Identifier::Param(key), value) => string_matches(run.data.param(key), clause.op, value),
        (Identifier::Tag(key), value) => string_matches(run.data.tag(key), clause.op, value),
        (Identifier::Attribute(a), Value::Integer(n)) => {
            attribute_number(run, *a).is_some_and(|v| clause.op.compare(v, *n))
        }
        (Identifier::Attribute(a), value) => {
            string_matches(attribute_text(run, *a).as_deref(), clause.op, value)
        }
        _ => false,
    }
}

fn compare(a: &Run, b: &Run, order: &[OrderBy]) -> Ordering {
    for clause in order {
        let direction = |o: Ordering| if clause.ascending { o } else { o.reverse() };
        let ordering = match &clause.identifier {
            Identifier::Metric(key) => {
                let rank = |r: &Run| match r.data.metric(key) {
                    None => (2, 0.0),
                    Some(v) if v.is_nan() => (1, 0.0),
                    Some(v) => (0, v),
                };
                let ((ra, va), (rb, vb)) = (rank(a), rank(b));
                ra.cmp(&rb).then_with(|| direction(va.total_cmp(&vb)))
            }
            Identifier::Param(key) | Identifier::Tag(key) => {
                let value = |r: &Run| {
                    if matches!(clause.identifier, Identifier::Param(_)) {
                        r.data.param(key).map(str::to_string)
                    } else {
                        r.data.tag(key).map(str::to_string)
                    }
                };
                match (value(a), value(b)) {
                    (Some(x), Some(y)) => direction(x.cmp(&y)),
                    (x, y) => x.is_none().cmp(&y.is_none()),
                }
            }
            Identifier::Attribute(Attribute::EndTime) => match (a.info.end_time, b.info.end_time) {
                (Some(x), Some(y)) => direction(x.cmp(&y)),
                (x, y) => x.is_none().cmp(&y.is_none()),
            },
            Identifier::Attribute(attribute) => {
                direction(attribute_text(a, *attribute).cmp(&attribute_text(b, *attribute)))
            }
        };
        if ordering != Ordering::Equal {
            return ordering;
        }
    }
    b.info
        .start_time
        .cmp(&a.info.start_time)
        .then_with(|| a.info.run_id.cmp(&b.info.run_id))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn search_equals_brute_force(clauses in prop::collection::vec(search_clause(), 0..3), order in prop::collection::vec(order_clause(), 0..3)) {
        let fixture = fixture();
        let filter = Filter { clauses };
        let (found, _) = fixture.store.search_runs(&SearchRuns {
            experiment_ids: vec![fixture.experiment_id.clone()],
            filter: filter.to_string(),
            order_by: order.iter().map(ToString::to_string).collect(),
            max_results: 1000,
            ..SearchRuns::default()
        }).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let mut expected: Vec<&Run> = fixture.runs.iter().filter(|r| filter.clauses.iter().all(|c| matches(r, c))).collect();
        expected.sort_by(|a, b| compare(a, b, &order));
        let found: Vec<&str> = found.iter().map(|r| r.info.run_id.as_str()).collect();
        let expected: Vec<&str> = expected.iter().map(|r| r.info.run_id.as_str()).collect();
        prop_assert_eq!(found, expected, "filter {} order {:?}", filter, order);
    }
}
