//! Generators shared by the targets: JSON values that favour the numbers and strings parsers get
//! wrong (type boundaries, empty and long strings, control characters), structural mutations of
//! valid documents, and byte-level edits of text.

use proptest::prelude::*;
use serde_json::{Map, Value, json};

/// Numbers at the edges of the integer types parsers convert to, and floats they must survive.
pub fn number() -> impl Strategy<Value = Value> {
    prop_oneof![
        3 => prop::sample::select(vec![
            json!(0),
            json!(1),
            json!(-1),
            json!(255),
            json!(65_535),
            json!(2_147_483_647),
            json!(u32::MAX),
            json!(u64::from(u32::MAX) + 1),
            json!(i64::MAX),
            json!(i64::MIN),
            json!(u64::MAX),
            json!(9_007_199_254_740_993u64),
            json!(0.5),
            json!(-0.0),
            json!(1e308),
            json!(-1e308),
            json!(5e-324),
        ]),
        1 => any::<i64>().prop_map(|n| json!(n)),
        1 => any::<u32>().prop_map(|n| json!(n)),
        1 => any::<f64>().prop_filter("JSON has no NaN or infinity", |f| f.is_finite()).prop_map(|f| json!(f)),
    ]
}

/// Strings: empty, words parsers look for, control characters, non-ASCII, and long runs.
pub fn string(words: &'static [&'static str]) -> impl Strategy<Value = String> {
    prop_oneof![
        2 => prop::sample::select(words).prop_map(str::to_string),
        2 => "\\PC{0,12}",
        1 => prop::sample::select(vec!["", "\n", "\r\n", "\u{0}", "\u{feff}", "[DONE]", "data:", "é", "\u{10ffff}", "{{", "}}", "{%", "%}"]).prop_map(str::to_string),
        1 => (prop::sample::select(vec!["a", "é", "\n", "{{ x }}", "\u{0}"]), 1usize..2000).prop_map(|(s, n)| s.repeat(n)),
    ]
}

/// Any JSON value, with object keys drawn mostly from `keys` so that mutations reach the fields
/// a parser reads.
pub fn json_value(
    keys: &'static [&'static str],
    words: &'static [&'static str],
) -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        number(),
        string(words).prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 4, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec((key(keys), inner), 0..4)
                .prop_map(|fields| Value::Object(fields.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

fn key(keys: &'static [&'static str]) -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop::sample::select(keys).prop_map(str::to_string),
        1 => "[a-z_]{0,8}",
    ]
}

/// One change somewhere in a JSON tree: the path picks a child at each level (modulo the
/// number of children).
#[derive(Debug, Clone)]
pub enum Edit {
    Replace(Value),
    Remove,
    Insert(String, Value),
    /// Repeats an array's element or an object's value under a new key.
    Duplicate,
    /// Replaces the numbers under the node, in order, with these: sums and products of several
    /// counts only overflow when several of them are large at once.
    Numbers(Vec<Value>),
}

pub fn edits(
    keys: &'static [&'static str],
    words: &'static [&'static str],
) -> impl Strategy<Value = Vec<(Vec<u16>, Edit)>> {
    let edit = prop_oneof![
        4 => json_value(keys, words).prop_map(Edit::Replace),
        2 => Just(Edit::Remove),
        2 => (key(keys), json_value(keys, words)).prop_map(|(k, v)| Edit::Insert(k, v)),
        1 => Just(Edit::Duplicate),
        3 => prop::collection::vec(number(), 1..8).prop_map(Edit::Numbers),
    ];
    prop::collection::vec((prop::collection::vec(any::<u16>(), 0..5), edit), 0..4)
}

pub fn apply(mut value: Value, edits: &[(Vec<u16>, Edit)]) -> Value {
    for (path, edit) in edits {
        apply_one(&mut value, path, edit);
    }
    value
}

fn apply_one(value: &mut Value, path: &[u16], edit: &Edit) {
    let Some((&pick, rest)) = path.split_first() else {
        match edit {
            Edit::Numbers(numbers) => replace_numbers(value, &mut numbers.iter()),
            Edit::Replace(new) => *value = new.clone(),
            Edit::Remove | Edit::Duplicate => {}
            Edit::Insert(key, new) => {
                if let Value::Object(map) = value {
                    map.insert(key.clone(), new.clone());
                } else if let Value::Array(items) = value {
                    items.push(new.clone());
                }
            }
        }
        return;
    };
    let last = rest.is_empty();
    match value {
        Value::Array(items) if !items.is_empty() => {
            let at = usize::from(pick) % items.len();
            match edit {
                Edit::Remove if last => {
                    items.remove(at);
                }
                Edit::Duplicate if last => {
                    let copy = items[at].clone();
                    items.insert(at, copy);
                }
                _ => apply_one(&mut items[at], rest, edit),
            }
        }
        Value::Object(map) if !map.is_empty() => {
            let at = usize::from(pick) % map.len();
            let Some(key) = map.keys().nth(at).cloned() else {
                return;
            };
            match edit {
                Edit::Remove if last => {
                    map.remove(&key);
                }
                Edit::Duplicate if last => {
                    if let Some(copy) = map.get(&key).cloned() {
                        map.insert(format!("{key}_"), copy);
                    }
                }
                _ => {
                    if let Some(child) = map.get_mut(&key) {
                        apply_one(child, rest, edit);
                    }
                }
            }
        }
        _ => apply_one(value, &[], edit),
    }
}

fn replace_numbers<'a>(value: &mut Value, numbers: &mut impl Iterator<Item = &'a Value>) {
    match value {
        Value::Number(_) => {
            if let Some(number) = numbers.next() {
                *value = number.clone();
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|item| replace_numbers(item, numbers)),
        Value::Object(map) => map.values_mut().for_each(|item| replace_numbers(item, numbers)),
        _ => {}
    }
}

/// A byte-level change of text at a position given as a fraction of its length.
#[derive(Debug, Clone)]
pub enum TextEdit {
    Delete(u16),
    Insert(String),
    Truncate,
}

pub fn text_edits(words: &'static [&'static str]) -> impl Strategy<Value = Vec<(u16, TextEdit)>> {
    let edit = prop_oneof![
        2 => (1u16..64).prop_map(TextEdit::Delete),
        3 => string(words).prop_map(TextEdit::Insert),
        1 => Just(TextEdit::Truncate),
    ];
    prop::collection::vec((any::<u16>(), edit), 0..4)
}

/// Applies edits to text, keeping it valid UTF-8 (positions move to a character boundary).
pub fn edit_text(text: &str, edits: &[(u16, TextEdit)]) -> String {
    let mut text = text.to_string();
    for (at, edit) in edits {
        let mut at = (usize::from(*at) * text.len()) / usize::from(u16::MAX);
        while !text.is_char_boundary(at) {
            at -= 1;
        }
        match edit {
            TextEdit::Delete(n) => {
                let mut end = (at + usize::from(*n)).min(text.len());
                while !text.is_char_boundary(end) {
                    end += 1;
                }
                text.replace_range(at..end, "");
            }
            TextEdit::Insert(s) => text.insert_str(at, s),
            TextEdit::Truncate => text.truncate(at),
        }
    }
    text
}
