//! Tables for people, drawn by comfy-table and fitted to the terminal's width when there is one.
//!
//! A table of one row per input line (`bounces classify` on a log, `classify --text` on a file of responses) can have
//! millions of rows. comfy-table draws a table once it has every row, to size its columns, which held the whole
//! output in memory (2.3 GB for a million responses) and printed nothing until the end, however early a pipe's
//! reader (`| head`) stopped. [`RowStream`] draws such tables as their rows come instead: a table that turns out
//! short is drawn by comfy-table as before, and a long one takes its column widths from what the command knows of its
//! cells beforehand ([`ColumnSizes`]) and from its first rows.

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

/// How wide a table's columns must be, and what they hold, measured row by row: a table drawn as its rows come is
/// sized from rows measured before (see [`RowStream::sized`]), or from the rows it holds first.
#[derive(Clone, Debug)]
pub struct ColumnSizes {
    /// Each column's width: its widest cell, or its name.
    widths: Vec<usize>,
    /// Whether a column holds only numbers (aligned right).
    numeric: Vec<bool>,
    /// Whether a column holds only bars.
    bars: Vec<bool>,
    rows: u64,
}

impl ColumnSizes {
    /// No rows yet: each column as wide as its name.
    pub fn new(columns: &[&str]) -> Self {
        ColumnSizes {
            widths: columns.iter().map(|c| shown_width(c)).collect(),
            numeric: vec![true; columns.len()],
            bars: vec![true; columns.len()],
            rows: 0,
        }
    }

    /// Makes column `column` at least `width` wide: for a column of names from a known list, whose longest may come
    /// only after the rows a table is sized from.
    pub fn at_least(&mut self, column: usize, width: usize) {
        if let Some(w) = self.widths.get_mut(column) {
            *w = (*w).max(width);
        }
    }

    /// Takes a row into account.
    pub fn measure(&mut self, row: &[Cell]) {
        for (i, cell) in row.iter().enumerate().take(self.widths.len()) {
            self.widths[i] = self.widths[i].max(shown_width(&display(cell)));
            self.numeric[i] &= matches!(cell, Cell::Int(_) | Cell::Ratio(_) | Cell::Empty);
            self.bars[i] &= matches!(cell, Cell::Bar(_));
        }
        self.rows += 1;
    }
}

/// How to draw one table: which columns are shown, and which are aligned right.
struct Layout {
    shown: Vec<usize>,
    right: Vec<bool>,
}

impl Layout {
    /// Bars are for terminals: elsewhere (a file, a pager, a test) a column of bars is left out. A column of numbers
    /// is aligned right.
    fn of(sizes: &ColumnSizes, style: &Style) -> Layout {
        let any = sizes.rows > 0;
        let shown: Vec<usize> = (0..sizes.widths.len()).filter(|&i| style.terminal || !any || !sizes.bars[i]).collect();
        let right = shown.iter().map(|&i| any && sizes.numeric[i]).collect();
        Layout { shown, right }
    }
}

/// Draws one table with comfy-table.
fn draw(columns: &[&'static str], rows: &[Vec<Cell>], style: &Style) -> Drawn {
    let mut drawn = Drawn::new();
    drawn.load_style(presets::UTF8_FULL_CONDENSED);
    if style.terminal {
        // comfy-table measures the terminal itself; a terminal that reports no usable width (some pseudo-terminals
        // say 0) gets the table at its natural width.
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
    let mut sizes = ColumnSizes::new(columns);
    rows.iter().for_each(|r| sizes.measure(r));
    let layout = Layout::of(&sizes, style);
    drawn.set_header(layout.shown.iter().map(|&i| columns[i].to_string()));
    for row in rows {
        drawn.add_row(layout.shown.iter().map(|&i| {
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
    for (col, &right) in layout.right.iter().enumerate() {
        if right && let Some(col) = drawn.column_mut(col) {
            col.set_cell_alignment(comfy_table::CellAlignment::Right);
        }
    }
    drawn
}

/// Writes human blocks.
pub fn write(blocks: &[Block], out: &mut dyn Write, style: &Style) -> io::Result<()> {
    for (i, block) in blocks.iter().enumerate() {
        match block {
            Block::Line(text) => writeln!(out, "{}", escape_controls(text))?,
            Block::TerminalLine(text) => {
                if style.terminal {
                    writeln!(out, "{}", escape_controls(text))?;
                }
            }
            Block::Table(t) => {
                if i > 0 && matches!(blocks[i - 1], Block::Table(_)) {
                    writeln!(out)?;
                }
                if let Some(title) = &t.title {
                    writeln!(out, "{}", escape_controls(title))?;
                }
                let drawn = draw(&t.columns, &t.rows, style);
                writeln!(out, "{drawn}")?;
            }
        }
    }
    Ok(())
}

/// How wide `text` shows, in terminal columns (as comfy-table measures it).
fn shown_width(text: &str) -> usize {
    unicode_width::UnicodeWidthStr::width(text)
}

/// `text` cut to `width` columns, ending with `…` where it was cut.
fn clip_to(text: &str, width: usize) -> std::borrow::Cow<'_, str> {
    if shown_width(text) <= width {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(width + 3);
    let mut used = 0;
    for c in text.chars() {
        let w = unicode_width::UnicodeWidthChar::width(c).unwrap_or(0);
        if used + w + 1 > width {
            break;
        }
        out.push(c);
        used += w;
    }
    out.push('…');
    std::borrow::Cow::Owned(out)
}

/// The escape sequence that starts a colour, as comfy-table writes it.
fn colour_code(colour: comfy_table::Color) -> &'static str {
    use comfy_table::Color;
    match colour {
        Color::Red => "\x1b[38;5;9m",
        Color::Yellow => "\x1b[38;5;11m",
        Color::Green => "\x1b[38;5;10m",
        _ => "",
    }
}

/// The widest a table may be: the terminal's width on a terminal that gives a usable one, else `COLUMNS` when the
/// output is not a terminal; none otherwise.
fn width_limit(style: &Style) -> Option<usize> {
    if style.terminal {
        Drawn::new().width().map(usize::from).filter(|&w| w >= 40)
    } else {
        style.width.map(usize::from)
    }
}

/// Narrows the widest columns until a table of these column `widths` fits in `limit` columns of text, none below
/// a few characters.
fn fit(widths: &mut [usize], limit: usize) {
    const NARROWEST: usize = 8;
    // A column takes its width, a space each side and a border.
    let total = |widths: &[usize]| 1 + widths.iter().map(|w| w + 3).sum::<usize>();
    while total(widths) > limit {
        let Some((i, &w)) = widths.iter().enumerate().max_by_key(|&(i, &w)| (w, std::cmp::Reverse(i))) else { return };
        if w <= NARROWEST {
            return;
        }
        widths[i] = w.saturating_sub(total(widths) - limit).max(NARROWEST);
    }
}

/// A table written as its rows come, for outputs of one row per input line (see the module's documentation). The
/// first [`RowStream::HELD`] rows are held: a table that ends before is drawn by comfy-table, as
/// [`write`](fn@write) draws it. A longer one is drawn here in the same style, its columns as wide as the sizes
/// given (see [`RowStream::sized`]) and the held rows need, narrowed to fit the terminal on one; a cell wider than
/// its column is cut with `…`. Every row is then written as it comes, in bounded memory.
pub struct RowStream<W: Write> {
    out: W,
    columns: Vec<&'static str>,
    style: Style,
    held: Vec<Vec<Cell>>,
    hold: usize,
    /// The sizes measured before the rows came, if they were.
    sizes: Option<ColumnSizes>,
    /// Once the widths are set: the layout and the width of each column shown.
    drawing: Option<(Layout, Vec<usize>)>,
}

impl<W: Write> RowStream<W> {
    /// How many rows are held to size the columns.
    pub const HELD: usize = 1000;

    /// A table of `columns`, written to `out` in `style`.
    pub fn new(out: W, columns: &[&'static str], style: Style) -> Self {
        RowStream::holding(out, columns, style, RowStream::<W>::HELD)
    }

    /// [`RowStream::new`], holding `hold` rows (at least one) before it draws.
    fn holding(out: W, columns: &[&'static str], style: Style, hold: usize) -> Self {
        RowStream {
            out,
            columns: columns.to_vec(),
            style,
            held: Vec::new(),
            hold: hold.max(1),
            sizes: None,
            drawing: None,
        }
    }

    /// [`RowStream::new`] with columns at least as wide as `sizes`: rows measured before they come (a long table is
    /// then as wide as comfy-table would draw it, and no cell is cut but to fit the terminal), or widths set with
    /// [`ColumnSizes::at_least`].
    pub fn sized(out: W, columns: &[&'static str], style: Style, sizes: ColumnSizes) -> Self {
        RowStream { sizes: Some(sizes), ..RowStream::new(out, columns, style) }
    }

    /// Adds a row, as long as the columns.
    pub fn push(&mut self, row: Vec<Cell>) -> io::Result<()> {
        if self.drawing.is_some() {
            return self.write_line(&row, true);
        }
        self.held.push(row);
        if self.held.len() >= self.hold { self.start() } else { Ok(()) }
    }

    /// Ends the table, and gives back what it was written to.
    pub fn finish(mut self) -> io::Result<W> {
        match &self.drawing {
            None => writeln!(self.out, "{}", draw(&self.columns, &self.held, &self.style))?,
            Some(_) => self.border('└', '─', '┴', '┘')?,
        }
        self.out.flush()?;
        Ok(self.out)
    }

    /// Sets the widths from the rows held, and writes the top of the table and those rows.
    fn start(&mut self) -> io::Result<()> {
        let mut sizes = self.sizes.take().unwrap_or_else(|| ColumnSizes::new(&self.columns));
        self.held.iter().for_each(|r| sizes.measure(r));
        let layout = Layout::of(&sizes, &self.style);
        let mut widths: Vec<usize> = layout.shown.iter().map(|&i| sizes.widths[i]).collect();
        if let Some(limit) = width_limit(&self.style) {
            fit(&mut widths, limit);
        }
        self.drawing = Some((layout, widths));
        self.border('┌', '─', '┬', '┐')?;
        let header: Vec<Cell> = self.columns.iter().map(|c| Cell::text(*c)).collect();
        self.write_line(&header, false)?;
        self.border('╞', '═', '╪', '╡')?;
        for row in std::mem::take(&mut self.held) {
            self.write_line(&row, true)?;
        }
        Ok(())
    }

    /// A border line: `left`, the column widths drawn with `line` and parted by `middle`, then `right`.
    fn border(&mut self, left: char, line: char, middle: char, right: char) -> io::Result<()> {
        let Some((_, widths)) = &self.drawing else { return Ok(()) };
        let mut text = String::from(left);
        for (n, w) in widths.iter().enumerate() {
            if n > 0 {
                text.push(middle);
            }
            text.extend(std::iter::repeat_n(line, w + 2));
        }
        text.push(right);
        writeln!(self.out, "{text}")
    }

    /// One line of cells, aligned as comfy-table aligns them: a row (coloured as it would be), or the header.
    fn write_line(&mut self, row: &[Cell], is_row: bool) -> io::Result<()> {
        let Some((layout, widths)) = &self.drawing else { return Ok(()) };
        let mut text = String::from('│');
        for (n, (&i, &width)) in layout.shown.iter().zip(widths).enumerate() {
            if n > 0 {
                text.push('┆');
            }
            let shown = display(&row[i]);
            let clipped = clip_to(&shown, width);
            let pad = " ".repeat(width.saturating_sub(shown_width(&clipped)));
            let colour = match (&row[i], self.style.colour && is_row) {
                (Cell::Text(s), true) => colour_of(s).map(colour_code).filter(|c| !c.is_empty()),
                _ => None,
            };
            // comfy-table colours the cell with its padding.
            if let Some(code) = colour {
                text.push_str(code);
            }
            text.push(' ');
            if layout.right[n] {
                text.push_str(&pad);
            }
            text.push_str(&clipped);
            if !layout.right[n] {
                text.push_str(&pad);
            }
            text.push(' ');
            if colour.is_some() {
                text.push_str("\x1b[39m");
            }
        }
        text.push('│');
        writeln!(self.out, "{text}")
    }
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

    const COLUMNS: &[&str] = &["input", "class", "n", "reason"];

    fn row(input: &str, class: &str, n: i64, reason: &str) -> Vec<Cell> {
        vec![Cell::text(input), Cell::text(class), Cell::Int(n), Cell::text(reason)]
    }

    fn rows() -> Vec<Vec<Cell>> {
        vec![
            row("550 5.1.1 <ünïcødé@example.com> user unknown", "delivered", 12345, "userunknown"),
            row("421 try later", "soft", 7, ""),
            row("250 ok", "hard", 0, "delivered"),
            row("", "soft", 1, "onhold"),
            row("452 4.2.2 mailbox full 满了", "soft", 42, "mailboxfull"),
        ]
    }

    fn streamed(rows: &[Vec<Cell>], style: Style, hold: usize) -> String {
        let mut stream = RowStream::holding(Vec::new(), COLUMNS, style, hold);
        for r in rows {
            stream.push(r.clone()).unwrap();
        }
        String::from_utf8(stream.finish().unwrap()).unwrap()
    }

    fn drawn(rows: &[Vec<Cell>], style: Style) -> String {
        let mut t = super::super::Table::new(COLUMNS);
        t.rows = rows.to_vec();
        let mut out = Vec::new();
        write(&[Block::Table(t)], &mut out, &style).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn a_long_table_is_drawn_as_comfy_table_draws_it() {
        // Held rows that hold the widest cells: the widths are those of the whole table.
        for style in [Style::default(), Style { terminal: true, colour: true, ..Style::default() }] {
            for hold in [1, 2, 5, 6] {
                let rows = rows();
                assert_eq!(streamed(&rows, style, hold), drawn(&rows, style), "hold {hold}, {style:?}");
            }
        }
    }

    #[test]
    fn later_wider_cells_are_cut_to_the_column() {
        let mut rows = rows();
        rows.push(row("550 a reply far longer than any held before it, cut", "hard", 1_000_000, "userunknown"));
        let text = streamed(&rows, Style::default(), 5);
        let lines: Vec<&str> = text.lines().collect();
        let widths: Vec<usize> = lines.iter().map(|l| shown_width(l)).collect();
        assert!(widths.iter().all(|&w| w == widths[0]), "{text}");
        assert!(lines[lines.len() - 2].contains("│ 550 a reply far longer than any held before… ┆"), "{text}");
        // Numbers stay right-aligned, and one too wide is cut like text.
        assert!(lines[3].contains("┆ 12345 ┆"), "{text}");
        assert!(lines[lines.len() - 2].contains("┆ 1000… ┆"), "{text}");
    }

    #[test]
    fn rows_measured_before_give_the_widths_of_the_whole_table() {
        let mut rows = rows();
        rows.push(row("550 a reply far longer than any held before it, whole", "hard", 1_000_000, "userunknown"));
        for style in [Style::default(), Style { terminal: true, colour: true, ..Style::default() }] {
            let mut sizes = ColumnSizes::new(COLUMNS);
            rows.iter().for_each(|r| sizes.measure(r));
            let mut stream = RowStream::sized(Vec::new(), COLUMNS, style, sizes);
            stream.hold = 2;
            for r in &rows {
                stream.push(r.clone()).unwrap();
            }
            let text = String::from_utf8(stream.finish().unwrap()).unwrap();
            assert_eq!(text, drawn(&rows, style));
        }
    }

    #[test]
    fn a_table_is_narrowed_to_the_width_given() {
        let style = Style { width: Some(50), ..Style::default() };
        let text = streamed(&rows(), style, 2);
        assert!(text.lines().all(|l| shown_width(l) <= 50), "{text}");
        assert!(text.contains("…"), "{text}");
        // Narrower than the columns can go: each wider than 8 is cut to 8, and the table is as narrow as that.
        let text = streamed(&rows(), Style { width: Some(10), ..Style::default() }, 2);
        assert!(text.lines().all(|l| shown_width(l) == 1 + 3 * (8 + 3) + ("12345".len() + 3)), "{text}");
    }

    #[test]
    fn a_table_with_no_rows_is_its_header() {
        assert_eq!(streamed(&[], Style::default(), 3), drawn(&[], Style::default()));
    }
}
