//! Tables for people, drawn by comfy-table and fitted to the terminal's width when there is one.

use std::io::{self, Write};

use comfy_table::{ContentArrangement, Table as Drawn, presets};

use super::{Block, Cell, Style, escape_controls};

/// The width of bars, in characters.
const BAR_WIDTH: usize = 16;

/// The text of a cell as people read it.
pub fn display(cell: &Cell) -> String {
    match cell {
        Cell::Text(s) => escape_controls(s).into_owned(),
        Cell::Int(n) => n.to_string(),
        Cell::Ratio(r) => format!("{:.2}%", r * 100.0),
        Cell::Empty => String::new(),
        Cell::Bar(r) => super::bar(*r, BAR_WIDTH),
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
                // Bars are for terminals; elsewhere (a file, a pager, a test) their column is left out.
                let shown: Vec<usize> = (0..t.columns.len())
                    .filter(|&i| {
                        style.terminal || t.rows.is_empty() || !t.rows.iter().all(|r| matches!(r[i], Cell::Bar(_)))
                    })
                    .collect();
                drawn.set_header(shown.iter().map(|&i| t.columns[i].to_string()));
                for row in &t.rows {
                    drawn.add_row(shown.iter().map(|&i| display(&row[i])));
                }
                for (col, &i) in shown.iter().enumerate() {
                    if t.rows.iter().all(|r| matches!(r[i], Cell::Int(_) | Cell::Ratio(_) | Cell::Empty))
                        && !t.rows.is_empty()
                        && let Some(col) = drawn.column_mut(col)
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
