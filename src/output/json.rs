//! JSON Lines: one object per row, keys in column order, numbers as numbers and empty cells as null.

use std::io::{self, Write};

use super::{Cell, Table};

/// Writes a table as JSON Lines.
pub fn write(table: &Table, out: &mut dyn Write) -> io::Result<()> {
    let keys: Vec<String> =
        table.columns.iter().map(|c| serde_json::to_string(c).expect("strings serialise")).collect();
    let mut line = String::new();
    for row in &table.rows {
        line.clear();
        line.push('{');
        for (i, (key, cell)) in keys.iter().zip(row).enumerate() {
            if i > 0 {
                line.push(',');
            }
            line.push_str(key);
            line.push(':');
            match cell {
                Cell::Text(s) => line.push_str(&serde_json::to_string(s).expect("strings serialise")),
                Cell::Int(n) => line.push_str(&n.to_string()),
                Cell::Ratio(r) | Cell::Bar(r) if r.is_finite() => {
                    line.push_str(&format!("{}", (r * 10_000.0).round() / 10_000.0))
                }
                Cell::Ratio(_) | Cell::Bar(_) | Cell::Empty => line.push_str("null"),
            }
        }
        line.push_str("}\n");
        out.write_all(line.as_bytes())?;
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
