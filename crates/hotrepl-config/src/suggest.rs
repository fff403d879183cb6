//! "Did you mean ...?" for names that are nearly right.

/// ` (did you mean 'NAME'?)` for the candidate closest to `word`, if one is close enough;
/// otherwise nothing.
pub fn did_you_mean<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> String {
    let best = candidates
        .into_iter()
        .map(|c| (strsim::jaro_winkler(word, c), c))
        .filter(|(score, _)| *score >= 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0));
    match best {
        Some((_, name)) => format!(" (did you mean '{name}'?)"),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_only_close_names() {
        assert_eq!(did_you_mean("colour", ["color", "theme"]), " (did you mean 'color'?)");
        assert_eq!(did_you_mean("xyz", ["color", "theme"]), "");
    }
}
