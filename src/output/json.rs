//! JSON Lines: one object per row, keys in column order, numbers as numbers and empty cells as null.

use std::io::{self, Write};

use super::{Cell, Table};

/// Writes a table as JSON Lines.
pub fn write(table: &Table, out: &mut dyn Write) -> io::Result<()> {
    let keys: Vec<String> =
        table.columns.iter().map(|c| serde_json::to_string(c).expect("strings serialise")).collect();
    let mut line: Vec<u8> = Vec::new();
    for row in &table.rows {
        line.clear();
        line.push(b'{');
        for (i, (key, cell)) in keys.iter().zip(row).enumerate() {
            if i > 0 {
                line.push(b',');
            }
            line.extend_from_slice(key.as_bytes());
            line.push(b':');
            match cell {
                Cell::Text(s) => serde_json::to_writer(&mut line, s).expect("strings serialise"),
                Cell::Int(n) => line.extend_from_slice(n.to_string().as_bytes()),
                Cell::Ratio(r) | Cell::Bar(r) if r.is_finite() => {
                    line.extend_from_slice(format!("{}", (r * 10_000.0).round() / 10_000.0).as_bytes())
                }
                Cell::Ratio(_) | Cell::Bar(_) | Cell::Empty => line.extend_from_slice(b"null"),
            }
        }
        line.extend_from_slice(b"}\n");
        out.write_all(&line)?;
    }
    Ok(())
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
