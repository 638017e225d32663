//! Small text helpers every layer shares: numbers as people read them and
//! the "did you mean" suggestion. One copy each, below the math, the charts
//! and the scripting layer.

/// A number in about six significant digits, trimmed: `0.1`, `123.457`,
/// `1.5e-7`, `-2e9` (values, spectra, `print`).
pub fn fmt_num(x: f64) -> String {
    significant(x, 6, 1e-4, 1e6)
}

/// A number in at most four significant digits and about nine characters:
/// `0.25`, `1234`, `-0.001234`, `1.235e5`, `4e-7` (chart axes and labels).
pub fn fmt_short(x: f64) -> String {
    significant(x, 4, 1e-3, 1e5)
}

/// `x` with `digits` significant digits, trailing zeros trimmed; plain
/// notation for |x| in [lo, hi), exponent notation outside.
fn significant(x: f64, digits: usize, lo: f64, hi: f64) -> String {
    if !x.is_finite() {
        return format!("{x}");
    }
    if x == 0.0 {
        return "0".to_string();
    }
    let a = x.abs();
    if !(lo..hi).contains(&a) {
        let s = format!("{x:.prec$e}", prec = digits - 1);
        // 1.23000e-7 → 1.23e-7
        return match s.split_once('e') {
            Some((m, e)) if m.contains('.') => {
                format!("{}e{e}", m.trim_end_matches('0').trim_end_matches('.'))
            }
            _ => s,
        };
    }
    let decimals = (digits as i32 - 1 - a.log10().floor() as i32).clamp(0, 12) as usize;
    let s = format!("{x:.decimals$}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

/// The candidate nearest to `name` by edit distance, for "did you mean"
/// messages: within one edit for names of up to four characters, two for
/// longer ones; never `name` itself.
pub fn closest<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let limit = if name.chars().count() <= 4 { 1 } else { 2 };
    candidates
        .into_iter()
        .filter(|c| *c != name)
        .map(|c| (edit_distance(name, c), c))
        .min()
        .filter(|(d, _)| *d <= limit)
        .map(|(_, c)| c)
}

/// Edit distance between two names: insertions, deletions, substitutions
/// and swaps of two neighbours (`hepl` → `help`) cost one each (optimal
/// string alignment).
pub fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    // d[i][j]: distance between a[..i] and b[..j].
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut v = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                v = v.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = v;
        }
    }
    d[a.len()][b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_print_in_six_digits() {
        assert_eq!(fmt_num(0.1), "0.1");
        assert_eq!(fmt_num(1.0), "1");
        assert_eq!(fmt_num(123.456789), "123.457");
        assert_eq!(fmt_num(1.5e-7), "1.5e-7");
        assert_eq!(fmt_num(-2.0e9), "-2e9");
        assert_eq!(fmt_num(f64::NAN), "NaN");
    }

    #[test]
    fn axis_numbers_are_short_and_round() {
        assert_eq!(fmt_short(0.0), "0");
        assert_eq!(fmt_short(-0.0), "0");
        assert_eq!(fmt_short(0.25), "0.25");
        assert_eq!(fmt_short(1234.0), "1234");
        assert_eq!(fmt_short(12345.6), "12346");
        assert_eq!(fmt_short(-0.001234), "-0.001234");
        assert_eq!(fmt_short(123456.0), "1.235e5");
        assert_eq!(fmt_short(4e-7), "4e-7");
        assert_eq!(fmt_short(1e300), "1e300");
        assert_eq!(fmt_short(-1.2345678e-300), "-1.235e-300");
    }

    #[test]
    fn closest_names_within_a_few_edits() {
        let names = ["train", "top_eigs", "eigs", "lr"];
        assert_eq!(closest("trian", names), Some("train"));
        assert_eq!(closest("eig", names), Some("eigs"));
        assert_eq!(closest("lrr", names), Some("lr"));
        assert_eq!(closest("xyz", names), None);
        assert_eq!(closest("eigs", names), None);
        assert_eq!(closest("hepl", ["help", "vars"]), Some("help"));
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("hepl", "help"), 1);
        assert_eq!(edit_distance("", "abc"), 3);
    }
}
