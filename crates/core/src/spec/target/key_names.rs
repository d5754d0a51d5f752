//! Telling an environment variable's name from a key pasted where the name belongs: experiment
//! files and the app's endpoints name the variable that holds a key, never the key.

/// Whether a target's `api_key_env` looks like a key pasted where a variable name belongs.
pub fn looks_like_a_key(text: &str) -> bool {
    let name_like = text
        .chars()
        .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_');
    !name_like && (text.len() >= 20 || text.starts_with("sk-") || text.starts_with("AIza"))
}

/// Whether text is a usable environment variable name.
pub fn is_variable_name(text: &str) -> bool {
    let mut chars = text.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pasted_keys_are_told_apart_from_variable_names() {
        assert!(looks_like_a_key("sk-proj-abcdefghijklmnopqrstuvwxyz"));
        assert!(!looks_like_a_key("OPENAI_API_KEY"));
        assert!(is_variable_name("OPENAI_API_KEY"));
        assert!(!is_variable_name("1ABC"));
    }
}
