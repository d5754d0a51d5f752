//! Text from models, servers and experiment files is data. Before it reaches a terminal, every
//! control character a terminal would obey is shown as a visible escape instead: ESC starts
//! sequences that set the window title, write the clipboard (OSC 52) or move the cursor; C1
//! controls (U+0080–U+009F) do the same on some terminals; BEL, backspace and carriage return
//! overwrite or hide what was printed; bidirectional overrides reorder what is shown. Line breaks
//! and tabs stay, so multi-line text reads as before.

/// `text` with terminal controls replaced by `\u{…}` escapes.
pub fn safe(text: &str) -> String {
    if !text.chars().any(is_dangerous) {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        if is_dangerous(c) {
            out.push_str(&format!("\\u{{{:x}}}", u32::from(c)));
        } else {
            out.push(c);
        }
    }
    out
}

fn is_dangerous(c: char) -> bool {
    (c.is_control() && c != '\n' && c != '\t')
        || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{200e}' | '\u{200f}')
}

#[cfg(test)]
mod tests {
    use super::safe;

    #[test]
    fn escape_sequences_that_set_the_title_or_write_the_clipboard_are_shown_not_obeyed() {
        let title = "\u{1b}]0;pwned\u{7}";
        let clipboard = "\u{1b}]52;c;cm0gLXJmIH4=\u{1b}\\";
        let csi_c1 = "\u{9b}2J";
        let text = format!("Berlin{title}{clipboard}{csi_c1}\r\u{8}\u{202e}done");
        let shown = safe(&text);
        assert!(!shown.chars().any(|c| c.is_control()), "{shown:?}");
        assert_eq!(
            shown,
            "Berlin\\u{1b}]0;pwned\\u{7}\\u{1b}]52;c;cm0gLXJmIH4=\\u{1b}\\\\u{9b}2J\\u{d}\\u{8}\\u{202e}done"
        );
    }

    #[test]
    fn ordinary_text_with_line_breaks_tabs_and_unicode_is_unchanged() {
        let text = "{\"city\": \"Zürich\"}\n\tnext — 東京 ⏎";
        assert_eq!(safe(text), text);
    }
}
