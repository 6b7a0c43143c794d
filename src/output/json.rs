//! JSON Lines: one object per row, keys in column order, numbers as numbers and empty cells as null.

use std::io::{self, Write};

use super::{Cell, Table};

/// Writes a table as JSON Lines.
pub fn write(table: &Table, out: &mut dyn Write) -> io::Result<()> {
    let keys = keys(&table.columns);
    let mut line: Vec<u8> = Vec::new();
    for row in &table.rows {
        line.clear();
        push_object(&mut line, &keys, row, |line, cell| match cell {
            Cell::Text(s) => serde_json::to_writer(line, s).expect("strings serialise"),
            Cell::Int(n) => line.extend_from_slice(n.to_string().as_bytes()),
            Cell::Ratio(r) | Cell::Bar(r) if r.is_finite() => {
                line.extend_from_slice(format!("{}", (r * 10_000.0).round() / 10_000.0).as_bytes())
            }
            Cell::Ratio(_) | Cell::Bar(_) | Cell::Empty => line.extend_from_slice(b"null"),
        });
        out.write_all(&line)?;
    }
    Ok(())
}

/// The columns as JSON keys, quoted once for all rows.
pub fn keys(columns: &[&str]) -> Vec<String> {
    columns.iter().map(|c| serde_json::to_string(c).expect("strings serialise")).collect()
}

/// Appends one row as a JSON object and a newline to `line`: each key, then its value as `value` writes it.
pub fn push_object<T>(
    line: &mut Vec<u8>,
    keys: &[String],
    values: impl IntoIterator<Item = T>,
    mut value: impl FnMut(&mut Vec<u8>, T),
) {
    line.push(b'{');
    for (i, (key, v)) in keys.iter().zip(values).enumerate() {
        if i > 0 {
            line.push(b',');
        }
        line.extend_from_slice(key.as_bytes());
        line.push(b':');
        value(line, v);
    }
    line.extend_from_slice(b"}\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_object_per_row() {
        let mut t = Table::new(&["email", "count", "rate", "note"]);
        t.push(vec![Cell::text("a\"b"), Cell::Int(2), Cell::Ratio(0.5), Cell::Empty]);
        let mut out = Vec::new();
        write(&t, &mut out).unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), "{\"email\":\"a\\\"b\",\"count\":2,\"rate\":0.5,\"note\":null}\n");
    }
}
