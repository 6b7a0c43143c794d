//! Tables for people, drawn by comfy-table and fitted to the terminal's width when there is one.

use std::io::{self, Write};

use comfy_table::{ContentArrangement, Table as Drawn, presets};

use super::{Block, Cell, Style, escape_controls};

/// The text of a cell as people read it.
pub fn display(cell: &Cell) -> String {
    match cell {
        Cell::Text(s) => escape_controls(s).into_owned(),
        Cell::Int(n) => n.to_string(),
        Cell::Ratio(r) => format!("{:.2}%", r * 100.0),
        Cell::Empty => String::new(),
    }
}

/// Writes human blocks.
pub fn write(blocks: &[Block], out: &mut dyn Write, style: &Style) -> io::Result<()> {
    for (i, block) in blocks.iter().enumerate() {
        match block {
            Block::Line(text) => writeln!(out, "{}", escape_controls(text))?,
            Block::Table(t) => {
                if i > 0 && matches!(blocks[i - 1], Block::Table(_)) {
                    writeln!(out)?;
                }
                if let Some(title) = &t.title {
                    writeln!(out, "{}", escape_controls(title))?;
                }
                let mut drawn = Drawn::new();
                drawn.load_style(presets::UTF8_FULL_CONDENSED);
                if style.terminal {
                    // comfy-table measures the terminal itself.
                    drawn.set_content_arrangement(ContentArrangement::Dynamic);
                } else if let Some(w) = style.width {
                    drawn.force_no_tty().set_content_arrangement(ContentArrangement::Dynamic).set_width(w);
                } else {
                    drawn.force_no_tty().set_content_arrangement(ContentArrangement::Disabled);
                }
                drawn.set_header(t.columns.iter().map(|c| c.to_string()));
                for row in &t.rows {
                    drawn.add_row(row.iter().map(display));
                }
                for (i, _) in t.columns.iter().enumerate() {
                    if t.rows.iter().all(|r| matches!(r[i], Cell::Int(_) | Cell::Ratio(_) | Cell::Empty))
                        && !t.rows.is_empty()
                        && let Some(col) = drawn.column_mut(i)
                    {
                        col.set_cell_alignment(comfy_table::CellAlignment::Right);
                    }
                }
                writeln!(out, "{drawn}")?;
            }
        }
    }
    Ok(())
}
