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

/// The colour of the words that classify: red for what deactivates, yellow for what counts toward it, green for a
/// delivery. Everything else, server text above all, stays uncoloured.
fn colour_of(text: &str) -> Option<comfy_table::Color> {
    use comfy_table::Color;
    match text {
        "hard" | "deactivated" | "soft_threshold" | "FAIL" => Some(Color::Red),
        "soft" | "expired" | "pending" => Some(Color::Yellow),
        "delivered" | "active" | "ok" => Some(Color::Green),
        _ => None,
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
                    // comfy-table measures the terminal itself; a terminal that reports no usable width (some
                    // pseudo-terminals say 0) gets the table at its natural width.
                    drawn.set_content_arrangement(ContentArrangement::Dynamic);
                    if drawn.width().is_none_or(|w| w < 40) {
                        drawn.set_content_arrangement(ContentArrangement::Disabled);
                    }
                    if style.colour {
                        drawn.enforce_styling();
                    }
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
                    drawn.add_row(shown.iter().map(|&i| {
                        let cell = comfy_table::Cell::new(display(&row[i]));
                        match (style.colour, &row[i]) {
                            (true, Cell::Text(s)) => match colour_of(s) {
                                Some(c) => cell.fg(c),
                                None => cell,
                            },
                            _ => cell,
                        }
                    }));
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

#[cfg(test)]
mod tests {
    use super::*;

    fn render(style: &Style) -> String {
        let mut t = super::super::Table::new(&["class", "response"]);
        t.push(vec![Cell::text("hard"), Cell::text("550 hard to say")]);
        let mut out = Vec::new();
        write(&[Block::Table(t)], &mut out, style).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn colour_only_when_asked_and_only_for_verdicts() {
        let plain = render(&Style::default());
        assert!(!plain.contains('\x1b'), "{plain}");
        let coloured = render(&Style { terminal: true, colour: true, ..Style::default() });
        assert_eq!(coloured.matches("\x1b[38;5;9m").count(), 1, "only the verdict is coloured: {coloured}");
    }
}
