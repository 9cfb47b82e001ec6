//! Reading an uploaded CSV file: its encoding (a byte-order mark, the member's choice, UTF-8,
//! else a guess), its delimiter (`,` `;` tab or `|`, whichever splits the header most), its
//! header and its rows.

use encoding_rs::{Encoding, UTF_16BE, UTF_16LE, UTF_8, WINDOWS_1252};

/// The encodings a member may choose instead of the detected one, by their WHATWG label.
pub const ENCODINGS: [(&str, &str); 4] = [
    ("UTF-8", "UTF-8"),
    ("UTF-16LE", "UTF-16 (little-endian)"),
    ("UTF-16BE", "UTF-16 (big-endian)"),
    ("windows-1252", "Windows-1252 / Latin-1"),
];

/// The delimiters a file may use, in the order a tie is decided.
const DELIMITERS: [u8; 4] = [b',', b';', b'\t', b'|'];

/// An encoding by its label (`latin1` is Windows-1252, as browsers read it).
pub fn encoding_named(label: &str) -> Option<&'static Encoding> {
    Encoding::for_label(label.trim().as_bytes())
}

/// The file as text, and the encoding it was read with: a byte-order mark decides, then the
/// member's choice, then valid UTF-8, then UTF-16 recognized by its zero bytes, then a guess
/// from the bytes (a Latin-1 file reads as Windows-1252). Refuses bytes the encoding cannot
/// read, and NUL characters (no text field can hold one).
pub fn decode(
    bytes: &[u8],
    chosen: Option<&'static Encoding>,
) -> Result<(String, &'static Encoding), String> {
    let (encoding, body) = match Encoding::for_bom(bytes) {
        Some((encoding, bom)) => (encoding, &bytes[bom..]),
        None => (chosen.unwrap_or_else(|| detect(bytes)), bytes),
    };
    let text = encoding
        .decode_without_bom_handling_and_without_replacement(body)
        .ok_or_else(|| {
            format!(
                "The file is not readable as {}: choose the encoding it was saved in.",
                encoding.name()
            )
        })?;
    if text.contains('\0') {
        return Err("The file holds NUL characters: it is not a CSV text file.".into());
    }
    Ok((text.into_owned(), encoding))
}

fn detect(bytes: &[u8]) -> &'static Encoding {
    if std::str::from_utf8(bytes).is_ok() {
        return UTF_8;
    }
    // UTF-16 text of Latin letters has a zero byte in every other place.
    let sample = &bytes[..bytes.len().min(4096) & !1];
    let zeros_at = |parity: usize| {
        sample
            .iter()
            .skip(parity)
            .step_by(2)
            .filter(|b| **b == 0)
            .count()
    };
    let half = sample.len() / 2;
    if half > 0 && zeros_at(1) * 10 > half * 3 {
        return UTF_16LE;
    }
    if half > 0 && zeros_at(0) * 10 > half * 3 {
        return UTF_16BE;
    }
    let mut detector = chardetng::EncodingDetector::new();
    detector.feed(bytes, true);
    let guess = detector.guess(None, true);
    // A single-byte guess other than Windows-1252 for a western file is most often wrong; the
    // member can choose another encoding on the next page.
    if guess == UTF_8 {
        WINDOWS_1252
    } else {
        guess
    }
}

/// The delimiter that splits the header line into the most fields (outside quotes).
pub fn detect_delimiter(text: &str) -> u8 {
    let header = text.lines().next().unwrap_or_default();
    let mut best = (0, b',');
    for delimiter in DELIMITERS {
        let mut quoted = false;
        let count = header
            .bytes()
            .filter(|b| {
                if *b == b'"' {
                    quoted = !quoted;
                }
                !quoted && *b == delimiter
            })
            .count();
        if count > best.0 {
            best = (count, delimiter);
        }
    }
    best.1
}

/// A parsed file: its header and its data rows (blank lines skipped), each row with its line
/// number in the file for the report.
pub struct Table {
    pub headers: Vec<String>,
    pub rows: Vec<Row>,
}

pub struct Row {
    /// The row's number among the data rows, from 1.
    pub number: usize,
    pub fields: Vec<String>,
}

/// Parses `text` as RFC 4180 CSV with `delimiter` and a header row. Rows may be shorter than
/// the header (missing fields are empty); a longer one is kept as it is and rejected later.
pub fn parse(text: &str, delimiter: u8) -> Result<Table, String> {
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .has_headers(true)
        .flexible(true)
        .from_reader(text.as_bytes());
    let headers: Vec<String> = reader
        .headers()
        .map_err(|err| format!("The header row cannot be read: {err}."))?
        .iter()
        .map(|h| h.trim().to_owned())
        .collect();
    if headers.iter().all(String::is_empty) {
        return Err("The file has no header row: its first line names the columns.".into());
    }
    let mut rows = Vec::new();
    for (index, record) in reader.records().enumerate() {
        let record = record.map_err(|err| format!("Row {} cannot be read: {err}.", index + 1))?;
        if record.iter().all(|f| f.trim().is_empty()) {
            continue;
        }
        rows.push(Row {
            number: index + 1,
            fields: record.iter().map(str::to_owned).collect(),
        });
    }
    Ok(Table { headers, rows })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bom_decides_and_is_dropped() {
        let (text, encoding) = decode(b"\xEF\xBB\xBFname\nAcme\n", None).unwrap();
        assert_eq!((text.as_str(), encoding), ("name\nAcme\n", UTF_8));
        let utf16: Vec<u8> = [0xFF, 0xFE]
            .into_iter()
            .chain("név\n".encode_utf16().flat_map(u16::to_le_bytes))
            .collect();
        assert_eq!(decode(&utf16, None).unwrap().0, "név\n");
    }

    #[test]
    fn latin1_and_utf16_without_bom_are_recognized() {
        let (text, encoding) = decode(b"name;city\nJos\xE9;M\xFCnchen\n", None).unwrap();
        assert_eq!(text, "name;city\nJosé;München\n");
        assert_eq!(encoding, WINDOWS_1252);
        let utf16: Vec<u8> = "name,city\nJosé,Köln\n"
            .encode_utf16()
            .flat_map(u16::to_le_bytes)
            .collect();
        assert_eq!(decode(&utf16, None).unwrap().0, "name,city\nJosé,Köln\n");
    }

    #[test]
    fn delimiters_are_detected_outside_quotes() {
        assert_eq!(detect_delimiter("a;b;c\n1;2;3"), b';');
        assert_eq!(detect_delimiter("a\tb\n"), b'\t');
        assert_eq!(detect_delimiter("\"x;y\",b,c\n"), b',');
        assert_eq!(detect_delimiter("a|b|c"), b'|');
        assert_eq!(detect_delimiter("single"), b',');
    }

    #[test]
    fn rows_keep_quoted_delimiters_and_newlines_and_skip_blank_lines() {
        let table = parse(
            "name,notes\n\"Acme, Inc\",\"two\nlines\"\n\n,\nGlobex\n",
            b',',
        )
        .unwrap();
        assert_eq!(table.headers, ["name", "notes"]);
        let rows: Vec<(usize, Vec<String>)> = table
            .rows
            .into_iter()
            .map(|r| (r.number, r.fields))
            .collect();
        assert_eq!(rows[0].1, ["Acme, Inc", "two\nlines"]);
        assert_eq!(rows[1], (3, vec!["Globex".to_owned()]));
    }
}
