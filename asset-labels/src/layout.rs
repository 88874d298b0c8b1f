//! Where the texts of a label go: the code broken into lines at the largest size that fits,
//! the name wrapped, the company fitted, with widths estimated from typical glyph advances.

use super::*;

/// One line of text and where its baseline goes (mm).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Line {
    pub(crate) text: String,
    pub(crate) baseline: f64,
}

/// Where the texts of an SVG label go. SVG cannot measure text, so widths are estimated from
/// typical glyph advances, erring wide so nothing runs off the label.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct TextLayout {
    pub(crate) code_font: f64,
    pub(crate) code: Vec<Line>,
    pub(crate) name: Vec<Line>,
    pub(crate) company: Option<Line>,
}

impl TextLayout {
    pub(crate) fn svg(label: &Label) -> TextLayout {
        let code = clean_text(&label.code);
        let font_for = |chars: usize| {
            CODE_MAX_FONT_MM.min(TEXT_W_MM / (MONO_ADVANCE_EM * chars.max(1) as f64))
        };
        let (code_lines, font) = code_lines(&code, |cap| {
            Some(font_for(cap)).filter(|f| *f >= CODE_MIN_FONT_MM)
        })
        .unwrap_or_else(|| {
            // Only codes near the 64-character limit: smaller type, never cut.
            let cap = code.chars().count().div_ceil(CODE_MAX_LINES);
            (break_code(&code, cap, false), font_for(cap))
        });
        let top = MARGIN_MM + 0.5;
        let code: Vec<Line> = code_lines
            .into_iter()
            .enumerate()
            .map(|(i, text)| Line {
                text,
                baseline: top + CAP_HEIGHT_EM * font + i as f64 * font,
            })
            .collect();
        let code_bottom = top + code.len() as f64 * font;

        let company_baseline = LABEL_HEIGHT_MM - MARGIN_MM - 0.6;
        let company_text = clean_text(&label.company);
        let company = (!company_text.is_empty()).then(|| Line {
            text: fit(
                &company_text,
                TEXT_W_MM,
                |s| sans_width(s, COMPANY_FONT_MM),
                "…",
            ),
            baseline: company_baseline,
        });
        let company_top = company_baseline - CAP_HEIGHT_EM * COMPANY_FONT_MM;

        // Name lines between the code and the company, as many as fit (at most three).
        let first = code_bottom + 0.8 + CAP_HEIGHT_EM * NAME_FONT_MM;
        let step = 1.2 * NAME_FONT_MM;
        let descent = 0.25 * NAME_FONT_MM;
        let mut room = 0;
        while room < NAME_MAX_LINES && first + room as f64 * step + descent <= company_top - 0.8 {
            room += 1;
        }
        let name = wrap(
            &clean_text(&label.name),
            TEXT_W_MM,
            room,
            |s| sans_width(s, NAME_FONT_MM),
            "…",
        )
        .into_iter()
        .enumerate()
        .map(|(i, text)| Line {
            text,
            baseline: first + i as f64 * step,
        })
        .collect();
        TextLayout {
            code_font: font,
            code,
            name,
            company,
        }
    }
}

/// The code in lines for the largest type: the fewest lines (at most [`CODE_MAX_LINES`]) for
/// which `size_for` (the type size at which a line of that many characters fills the column)
/// gives a size, with the size. `None` when even the most lines give none.
pub(crate) fn code_lines<S>(
    code: &str,
    size_for: impl Fn(usize) -> Option<S>,
) -> Option<(Vec<String>, S)> {
    let n = code.chars().count().max(1);
    for lines in 1..=CODE_MAX_LINES {
        // Breaking at separators may need a little more room per line than an even split.
        let mut cap = n.div_ceil(lines);
        while break_code(code, cap, true).len() > lines {
            cap += 1;
        }
        if let Some(size) = size_for(cap) {
            return Some((break_code(code, cap, true), size));
        }
    }
    None
}

/// `code` in lines of at most `cap` characters. With `at_separators`, a line ends after the
/// last `-`, `/`, `.` or `_` that fits, if that is at least half a line in: `GENERATOR-` /
/// `SET-0042` reads better than `GENERATOR-S` / `ET-0042`.
pub(crate) fn break_code(code: &str, cap: usize, at_separators: bool) -> Vec<String> {
    let chars: Vec<char> = code.chars().collect();
    let cap = cap.max(1);
    let mut lines = Vec::new();
    let mut start = 0;
    while chars.len() - start > cap {
        let window = &chars[start..start + cap];
        let cut = window
            .iter()
            .rposition(|c| at_separators && matches!(c, '-' | '/' | '.' | '_'))
            .map(|i| i + 1)
            .filter(|&cut| cut * 2 >= cap)
            .unwrap_or(cap);
        lines.push(chars[start..start + cut].iter().collect());
        start += cut;
    }
    lines.push(chars[start..].iter().collect());
    lines
}

/// Estimated width (mm) of `s` in a Helvetica-like face at `font` mm.
pub(crate) fn sans_width(s: &str, font: f64) -> f64 {
    s.chars()
        .map(|c| match c {
            'i' | 'j' | 'l' | '.' | ',' | '\'' | '|' | '!' | ':' | ';' | 'I' => 0.28,
            ' ' | 'f' | 't' | 'r' | '(' | ')' | '[' | ']' | '-' | '/' => 0.36,
            'm' | 'w' => 0.84,
            'M' | 'W' => 0.92,
            '0'..='9' => 0.56,
            c if (c as u32) >= 0x2E80 => 1.0,
            c if c.is_uppercase() => 0.72,
            _ => 0.58,
        })
        .sum::<f64>()
        * font
}

/// Greedy word wrap into at most `max_lines` lines no wider than `max` by `measure`; words
/// longer than a line are broken. When the text does not fit, the last line ends in `ellipsis`.
pub(crate) fn wrap(
    text: &str,
    max: f64,
    max_lines: usize,
    measure: impl Fn(&str) -> f64,
    ellipsis: &str,
) -> Vec<String> {
    // Float estimates that are equal on paper must not spill a line over.
    let fits = |s: &str| measure(s) <= max + 1e-9;
    let mut lines: Vec<String> = Vec::new();
    let mut current = String::new();
    for word in text.split(' ').filter(|w| !w.is_empty()) {
        let candidate = if current.is_empty() {
            word.to_owned()
        } else {
            format!("{current} {word}")
        };
        if fits(&candidate) {
            current = candidate;
            continue;
        }
        if !current.is_empty() {
            lines.push(std::mem::take(&mut current));
        }
        current = word.to_owned();
        while !fits(&current) {
            // The longest prefix that fits, at least one character.
            let chars: Vec<char> = current.chars().collect();
            let mut take = 1;
            while take < chars.len() && fits(&chars[..=take].iter().collect::<String>()) {
                take += 1;
            }
            lines.push(chars[..take].iter().collect());
            current = chars[take..].iter().collect();
        }
    }
    if !current.is_empty() {
        lines.push(current);
    }
    if lines.len() > max_lines {
        lines.truncate(max_lines);
        if let Some(last) = lines.last_mut() {
            *last = fit(&format!("{last}{ellipsis}"), max, &measure, ellipsis);
        }
    }
    lines
}

/// `text` cut so it fits `max`, ending in `ellipsis` when cut.
pub(crate) fn fit(text: &str, max: f64, measure: impl Fn(&str) -> f64, ellipsis: &str) -> String {
    if measure(text) <= max + 1e-9 {
        return text.to_owned();
    }
    let mut chars: Vec<char> = text.chars().collect();
    loop {
        let head: String = chars.iter().collect::<String>().trim_end().to_owned();
        let candidate = format!("{head}{ellipsis}");
        if measure(&candidate) <= max + 1e-9 || chars.is_empty() {
            return if chars.is_empty() {
                String::new()
            } else {
                candidate
            };
        }
        chars.pop();
    }
}

/// Text as it can be printed: control characters dropped, runs of whitespace made one space.
pub(crate) fn clean_text(s: &str) -> String {
    s.split(|c: char| c.is_whitespace() || c.is_control())
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}
