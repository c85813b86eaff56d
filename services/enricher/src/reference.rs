//! Reference data per ticker (name, exchange, currency), loaded from a TOML
//! file of `[[ticker]]` tables.
//!
//! ```toml
//! [[ticker]]
//! symbol = "STK_ONE"
//! name = "Stock One Corp."
//! exchange = "NASDAQ"
//! currency = "USD"
//! ```
//!
//! Every key is required and no other key is allowed, so a typo fails at
//! start-up instead of silently enriching ticks with empty fields. Errors name
//! the file and the line.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

/// The shipped reference file, `services/enricher/reference/tickers.toml`.
pub const BUILTIN_TOML: &str = include_str!("../reference/tickers.toml");

/// The longest symbol the file may list, in bytes.
const MAX_SYMBOL_LEN: usize = 32;

/// What the reference data says about one ticker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TickerInfo {
    /// Company or instrument name, e.g. `Apple Inc.`.
    pub name: String,
    /// Listing exchange, e.g. `NASDAQ`.
    pub exchange: String,
    /// ISO 4217 code of the price's currency, e.g. `USD`.
    pub currency: String,
}

/// Reference data for every known ticker, looked up by symbol.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReferenceData {
    tickers: HashMap<String, TickerInfo>,
}

/// Why a reference file could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ReferenceError {
    /// The file could not be read.
    #[error("cannot read reference data file {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not valid TOML, or an entry breaks a rule.
    #[error("invalid reference data file {}{}: {problem}", path.display(), at_line(*line))]
    Invalid {
        /// The file (`<builtin>` for [`BUILTIN_TOML`]).
        path: PathBuf,
        /// The 1-based line of the problem, when known.
        line: Option<usize>,
        /// What is wrong, e.g. ``duplicate symbol `AAPL` (first on line 3)``.
        problem: String,
    },
}

fn at_line(line: Option<usize>) -> String {
    line.map(|line| format!(", line {line}"))
        .unwrap_or_default()
}

/// The file as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    ticker: Vec<Entry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    symbol: Spanned<String>,
    name: Spanned<String>,
    exchange: Spanned<String>,
    currency: Spanned<String>,
}

impl ReferenceData {
    /// Loads the reference file at `path`.
    ///
    /// # Errors
    ///
    /// [`ReferenceError::Read`] if the file cannot be read;
    /// [`ReferenceError::Invalid`], naming the line, if it is not valid TOML,
    /// has an unknown or missing key, or an entry breaks a rule: symbols
    /// non-empty, at most 32 bytes of printable ASCII, unique; names and
    /// exchanges non-blank; currencies three upper-case letters.
    pub fn load(path: impl AsRef<Path>) -> Result<Self, ReferenceError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| ReferenceError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::from_toml(&text, path)
    }

    /// Parses reference data from TOML `text`; `path` only names the source
    /// in errors.
    ///
    /// # Errors
    ///
    /// As [`ReferenceData::load`], without the read error.
    pub fn from_toml(text: &str, path: impl AsRef<Path>) -> Result<Self, ReferenceError> {
        let invalid =
            |span: Option<std::ops::Range<usize>>, problem: String| ReferenceError::Invalid {
                path: path.as_ref().to_owned(),
                line: span.map(|span| line_of(text, span.start)),
                problem,
            };
        let file: File = toml::from_str(text)
            .map_err(|err| invalid(err.span(), err.message().trim_end().to_owned()))?;

        let mut tickers = HashMap::with_capacity(file.ticker.len());
        let mut first_line = HashMap::with_capacity(file.ticker.len());
        for entry in file.ticker {
            let symbol_span = entry.symbol.span();
            let symbol = entry.symbol.into_inner();
            check_symbol(&symbol).map_err(|problem| invalid(Some(symbol_span.clone()), problem))?;
            for (field, value) in [("name", &entry.name), ("exchange", &entry.exchange)] {
                if value.get_ref().trim().is_empty() {
                    return Err(invalid(
                        Some(value.span()),
                        format!("`{field}` of `{symbol}` is empty"),
                    ));
                }
            }
            let currency = entry.currency.get_ref();
            if currency.len() != 3 || !currency.bytes().all(|b| b.is_ascii_uppercase()) {
                return Err(invalid(
                    Some(entry.currency.span()),
                    format!(
                        "`currency` of `{symbol}` is {currency:?}: expected an ISO 4217 code, three upper-case letters"
                    ),
                ));
            }
            let line = line_of(text, symbol_span.start);
            if let Some(first) = first_line.insert(symbol.clone(), line) {
                return Err(invalid(
                    Some(symbol_span),
                    format!("duplicate symbol `{symbol}` (first on line {first})"),
                ));
            }
            tickers.insert(
                symbol,
                TickerInfo {
                    name: entry.name.into_inner(),
                    exchange: entry.exchange.into_inner(),
                    currency: entry.currency.into_inner(),
                },
            );
        }
        Ok(ReferenceData { tickers })
    }

    /// The shipped reference data ([`BUILTIN_TOML`], compiled in).
    pub fn builtin() -> Self {
        #[allow(clippy::expect_used)]
        // The shipped file is a constant, and a unit test parses it.
        Self::from_toml(BUILTIN_TOML, "<builtin>").expect("the builtin reference data is valid")
    }

    /// Reference data for `symbol`, if known. Symbols are case-sensitive.
    pub fn get(&self, symbol: &str) -> Option<&TickerInfo> {
        self.tickers.get(symbol)
    }

    /// The number of known tickers.
    pub fn len(&self) -> usize {
        self.tickers.len()
    }

    /// Whether no ticker is known.
    pub fn is_empty(&self) -> bool {
        self.tickers.is_empty()
    }

    /// Every known ticker and its data, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &TickerInfo)> {
        self.tickers
            .iter()
            .map(|(symbol, info)| (symbol.as_str(), info))
    }
}

impl FromIterator<(String, TickerInfo)> for ReferenceData {
    /// Reference data from `(symbol, info)` pairs, e.g. for tests; a later
    /// pair replaces an earlier one of the same symbol. No rule is checked.
    fn from_iter<I: IntoIterator<Item = (String, TickerInfo)>>(iter: I) -> Self {
        ReferenceData {
            tickers: iter.into_iter().collect(),
        }
    }
}

/// The 1-based line of byte `offset` in `text`.
fn line_of(text: &str, offset: usize) -> usize {
    let before = text.get(..offset).unwrap_or(text);
    before.bytes().filter(|&b| b == b'\n').count() + 1
}

/// Symbols are non-empty printable ASCII without spaces, at most
/// [`MAX_SYMBOL_LEN`] bytes: what a tick could carry and a log could show.
fn check_symbol(symbol: &str) -> Result<(), String> {
    if symbol.is_empty() {
        return Err("`symbol` is empty".to_owned());
    }
    if symbol.len() > MAX_SYMBOL_LEN {
        return Err(format!(
            "`symbol` {symbol:?} is longer than {MAX_SYMBOL_LEN} bytes"
        ));
    }
    if !symbol.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(format!(
            "`symbol` {symbol:?} has a character other than printable ASCII without spaces"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(text: &str) -> (Option<usize>, String) {
        match ReferenceData::from_toml(text, "t.toml") {
            Err(ReferenceError::Invalid { line, problem, .. }) => (line, problem),
            other => panic!("expected Invalid, got {other:?}"),
        }
    }

    const ONE: &str = "[[ticker]]\nsymbol = \"AAPL\"\nname = \"Apple Inc.\"\nexchange = \"NASDAQ\"\ncurrency = \"USD\"\n";

    #[test]
    fn builtin_file_parses_and_lists_the_generator_tickers() {
        let data = ReferenceData::builtin();
        assert!(data.len() >= 10, "{}", data.len());
        for symbol in ["STK_ONE", "STK_TWO", "AAPL", "BRK.B", "7203"] {
            assert!(data.get(symbol).is_some(), "{symbol}");
        }
        assert_eq!(
            data.get("STK_ONE"),
            Some(&TickerInfo {
                name: "Stock One Corp.".into(),
                exchange: "NASDAQ".into(),
                currency: "USD".into(),
            })
        );
        assert_eq!(data.get("stk_one"), None, "symbols are case-sensitive");
    }

    #[test]
    fn an_entry_parses_to_its_fields() {
        let data = ReferenceData::from_toml(ONE, "t.toml").expect("valid");
        assert_eq!(data.len(), 1);
        assert_eq!(
            data.get("AAPL").map(|i| i.name.as_str()),
            Some("Apple Inc.")
        );
    }

    #[test]
    fn an_empty_file_is_empty_reference_data() {
        let data = ReferenceData::from_toml("# nothing\n", "t.toml").expect("valid");
        assert!(data.is_empty());
    }

    #[test]
    fn duplicate_symbols_name_both_lines() {
        let text = format!("{ONE}\n{ONE}");
        assert_eq!(
            error(&text),
            (
                Some(8),
                "duplicate symbol `AAPL` (first on line 2)".to_owned()
            )
        );
    }

    #[test]
    fn unknown_and_missing_keys_are_errors_with_a_line() {
        let (line, problem) = error(&ONE.replace("currency", "curency"));
        assert_eq!(line, Some(5), "the unknown key's line: {problem}");
        assert!(problem.contains("curency"), "{problem}");

        let (line, problem) = error(&ONE.replace("name = \"Apple Inc.\"\n", ""));
        assert!(line.is_some(), "{problem}");
        assert!(problem.contains("name"), "{problem}");

        let (_, problem) = error(&format!("tickers = []\n{ONE}"));
        assert!(problem.contains("tickers"), "{problem}");
    }

    #[test]
    fn bad_values_name_the_key_and_line() {
        let cases = [
            ("symbol = \"AAPL\"", "symbol = \"\"", 2, "`symbol` is empty"),
            (
                "symbol = \"AAPL\"",
                "symbol = \"A B\"",
                2,
                "printable ASCII",
            ),
            (
                "name = \"Apple Inc.\"",
                "name = \"  \"",
                3,
                "`name` of `AAPL` is empty",
            ),
            ("exchange = \"NASDAQ\"", "exchange = \"\"", 4, "`exchange`"),
            ("currency = \"USD\"", "currency = \"usd\"", 5, "ISO 4217"),
            ("currency = \"USD\"", "currency = 840", 5, "string"),
        ];
        for (from, to, want_line, want) in cases {
            let (line, problem) = error(&ONE.replace(from, to));
            assert_eq!(line, Some(want_line), "{to}: {problem}");
            assert!(problem.contains(want), "{to}: {problem}");
        }
        let long = format!("symbol = \"{}\"", "A".repeat(33));
        assert!(
            error(&ONE.replace("symbol = \"AAPL\"", &long))
                .1
                .contains("longer")
        );
    }

    #[test]
    fn syntax_errors_name_the_line() {
        let (line, _) = error("[[ticker]]\nsymbol = \"A\nname = 1\n");
        assert_eq!(line, Some(2));
    }

    #[test]
    fn load_names_the_file_in_errors() {
        let dir = tempfile::tempdir().expect("temp dir");
        let missing = dir.path().join("missing.toml");
        let err = ReferenceData::load(&missing).expect_err("missing file");
        assert!(matches!(err, ReferenceError::Read { .. }));
        assert!(err.to_string().contains("missing.toml"), "{err}");

        let bad = dir.path().join("bad.toml");
        std::fs::write(&bad, ONE.replace("USD", "dollars")).expect("write");
        let err = ReferenceData::load(&bad).expect_err("bad currency");
        let text = err.to_string();
        assert!(
            text.contains("bad.toml") && text.contains("line 5"),
            "{text}"
        );

        let good = dir.path().join("good.toml");
        std::fs::write(&good, ONE).expect("write");
        assert_eq!(ReferenceData::load(&good).expect("valid").len(), 1);
    }
}
