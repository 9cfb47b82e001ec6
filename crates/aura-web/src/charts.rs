//! Charts drawn on the server as SVG (issue 12): no chart library, no script, no style
//! attribute (the CSP refuses inline style; colours come from classes in app.css). This module
//! does the geometry (a "nice" scale, bar positions and lengths, tick and axis labels) and
//! templates only place the shapes it computed. Coordinates are exact decimals rounded to a
//! tenth of a unit of the chart's view box: the money they stand for never passes a float.

use rust_decimal::Decimal;

/// The view box's width; the page scales the chart to its column (app.css).
pub const WIDTH: i64 = 400;
/// Room on the right of a horizontal bar for its value.
const VALUE_ROOM: i64 = 104;
/// A horizontal bar's row: its label above, then the bar.
const ROW: i64 = 34;
const BAR: i64 = 14;
/// The column chart's plot: left room for the tick labels, bottom room for the group labels.
const PLOT_LEFT: i64 = 44;
const PLOT_TOP: i64 = 8;
const PLOT_BOTTOM: i64 = 24;
const COLUMNS_HEIGHT: i64 = 200;
/// Ticks on the value axis, at most.
const TICKS: i64 = 4;

/// A series of values: its CSS class (its colour) and its name in the legend.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Series {
    pub class: &'static str,
    pub label: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rect {
    pub x: Decimal,
    pub y: Decimal,
    pub width: Decimal,
    pub height: Decimal,
    pub class: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Text {
    pub x: Decimal,
    pub y: Decimal,
    /// `start`, `middle` or `end` (SVG's `text-anchor`).
    pub anchor: &'static str,
    pub class: &'static str,
    pub text: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    pub x1: Decimal,
    pub y1: Decimal,
    pub x2: Decimal,
    pub y2: Decimal,
}

/// A chart as shapes, ready for a template to place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chart {
    pub width: i64,
    pub height: i64,
    pub rects: Vec<Rect>,
    pub texts: Vec<Text>,
    pub lines: Vec<Line>,
    pub legend: Vec<Series>,
}

/// A scale from 0 to a round top above the largest value, in steps of 1, 2 or 5 times a power
/// of ten (at most [`TICKS`] of them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scale {
    pub top: Decimal,
    pub step: Decimal,
}

impl Scale {
    pub fn new(largest: Decimal) -> Self {
        if largest <= Decimal::ZERO {
            return Self {
                top: Decimal::ONE,
                step: Decimal::ONE,
            };
        }
        let ticks = Decimal::from(TICKS);
        let rough = largest / ticks;
        let mut magnitude = Decimal::ONE;
        while magnitude * Decimal::TEN <= rough {
            magnitude *= Decimal::TEN;
        }
        while magnitude > rough {
            magnitude /= Decimal::TEN;
        }
        let step = [1, 2, 5, 10]
            .into_iter()
            .map(|m| magnitude * Decimal::from(m))
            .find(|step| *step * ticks >= largest)
            .unwrap_or(magnitude * Decimal::TEN);
        let top = (largest / step).ceil() * step;
        Self {
            top: top.normalize(),
            step: step.normalize(),
        }
    }

    /// `value`'s length on an axis `length` long (0 for nothing, `length` at the top).
    pub fn length(&self, value: Decimal, length: i64) -> Decimal {
        let value = value.max(Decimal::ZERO).min(self.top);
        unit(value / self.top * Decimal::from(length))
    }

    /// The tick values from 0 to the top.
    pub fn ticks(&self) -> Vec<Decimal> {
        let mut ticks = Vec::new();
        let mut value = Decimal::ZERO;
        while value <= self.top {
            ticks.push(value.normalize());
            value += self.step;
        }
        ticks
    }
}

/// A coordinate, to a tenth of a unit.
fn unit(value: Decimal) -> Decimal {
    value.round_dp(1).normalize()
}

fn at(value: i64) -> Decimal {
    Decimal::from(value)
}

/// A short label for an axis: `0`, `750`, `1.5k`, `20k`, `2.5M`.
pub fn compact(value: Decimal) -> String {
    let thousand = Decimal::from(1_000);
    let million = Decimal::from(1_000_000);
    let (scaled, suffix) = if value.abs() >= million {
        (value / million, "M")
    } else if value.abs() >= thousand {
        (value / thousand, "k")
    } else {
        (value, "")
    };
    format!("{}{suffix}", scaled.round_dp(1).normalize())
}

/// A horizontal bar: a label above it, its value, an optional inner value drawn over it (the
/// weighted part of an amount), and the text after the bar.
#[derive(Debug, Clone)]
pub struct HorizontalBar {
    pub label: String,
    pub value: Decimal,
    pub inner: Option<Decimal>,
    pub value_text: String,
}

/// Horizontal bars, one row each, on one scale; `outer` is the bars' series, `inner` the
/// series of the values drawn over them.
pub fn horizontal(rows: &[HorizontalBar], outer: Series, inner: Option<Series>) -> Chart {
    let largest = rows.iter().map(|r| r.value).max().unwrap_or_default();
    let scale = Scale::new(largest);
    let length = WIDTH - VALUE_ROOM;
    let mut rects = Vec::new();
    let mut texts = Vec::new();
    for (i, row) in rows.iter().enumerate() {
        let top = at(ROW * i as i64);
        let bar_y = top + at(ROW - BAR - 4);
        texts.push(Text {
            x: Decimal::ZERO,
            y: top + at(12),
            anchor: "start",
            class: "chart-label",
            text: row.label.clone(),
        });
        let width = scale.length(row.value, length);
        rects.push(Rect {
            x: Decimal::ZERO,
            y: bar_y,
            width,
            height: at(BAR),
            class: outer.class,
        });
        if let (Some(value), Some(series)) = (row.inner, inner) {
            rects.push(Rect {
                x: Decimal::ZERO,
                y: bar_y,
                width: scale.length(value, length),
                height: at(BAR),
                class: series.class,
            });
        }
        texts.push(Text {
            x: width + at(4),
            y: bar_y + at(BAR - 3),
            anchor: "start",
            class: "chart-value",
            text: row.value_text.clone(),
        });
    }
    Chart {
        width: WIDTH,
        height: (ROW * rows.len() as i64).max(ROW),
        rects,
        texts,
        lines: Vec::new(),
        legend: std::iter::once(outer).chain(inner).collect(),
    }
}

/// A group of columns side by side (one per series) under one label: a month.
#[derive(Debug, Clone)]
pub struct Group {
    pub label: String,
    pub values: Vec<Decimal>,
}

/// Vertical columns in groups on one scale, with a value axis (ticks and grid lines) on the
/// left and the groups' labels below.
pub fn columns(series: &[Series], groups: &[Group]) -> Chart {
    let largest = groups
        .iter()
        .flat_map(|g| g.values.iter().copied())
        .max()
        .unwrap_or_default();
    let scale = Scale::new(largest);
    let plot_width = WIDTH - PLOT_LEFT;
    let plot_height = COLUMNS_HEIGHT - PLOT_TOP - PLOT_BOTTOM;
    let baseline = at(PLOT_TOP + plot_height);
    let mut texts = Vec::new();
    let mut lines = Vec::new();
    for tick in scale.ticks() {
        let y = baseline - scale.length(tick, plot_height);
        lines.push(Line {
            x1: at(PLOT_LEFT),
            y1: y,
            x2: at(WIDTH),
            y2: y,
        });
        texts.push(Text {
            x: at(PLOT_LEFT - 4),
            y: y + at(4),
            anchor: "end",
            class: "chart-tick",
            text: compact(tick),
        });
    }
    let mut rects = Vec::new();
    if !groups.is_empty() && !series.is_empty() {
        let slot = Decimal::from(plot_width) / Decimal::from(groups.len() as i64);
        // A quarter of each slot is the gap between groups.
        let column = slot * Decimal::new(75, 2) / Decimal::from(series.len() as i64);
        for (g, group) in groups.iter().enumerate() {
            let left = at(PLOT_LEFT) + slot * Decimal::from(g as i64) + slot / Decimal::from(8);
            for (s, (value, kind)) in group.values.iter().zip(series).enumerate() {
                let height = scale.length(*value, plot_height);
                rects.push(Rect {
                    x: unit(left + column * Decimal::from(s as i64)),
                    y: unit(baseline - height),
                    width: unit(column),
                    height,
                    class: kind.class,
                });
            }
            texts.push(Text {
                x: unit(at(PLOT_LEFT) + slot * Decimal::from(g as i64) + slot / Decimal::TWO),
                y: at(COLUMNS_HEIGHT - 8),
                anchor: "middle",
                class: "chart-label",
                text: group.label.clone(),
            });
        }
    }
    Chart {
        width: WIDTH,
        height: COLUMNS_HEIGHT,
        rects,
        texts,
        lines,
        legend: series.to_vec(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dec(text: &str) -> Decimal {
        text.parse().unwrap()
    }

    const A: Series = Series {
        class: "a",
        label: "A",
    };
    const B: Series = Series {
        class: "b",
        label: "B",
    };

    #[test]
    fn the_scale_rounds_the_largest_value_up_to_a_round_top() {
        assert_eq!(
            Scale::new(dec("0")),
            Scale {
                top: dec("1"),
                step: dec("1")
            }
        );
        assert_eq!(
            Scale::new(dec("7")),
            Scale {
                top: dec("8"),
                step: dec("2")
            }
        );
        assert_eq!(
            Scale::new(dec("10")),
            Scale {
                top: dec("10"),
                step: dec("5")
            }
        );
        assert_eq!(
            Scale::new(dec("123456.78")),
            Scale {
                top: dec("150000"),
                step: dec("50000")
            }
        );
        assert_eq!(
            Scale::new(dec("0.3")),
            Scale {
                top: dec("0.3"),
                step: dec("0.1")
            }
        );
        assert_eq!(
            Scale::new(dec("90")).ticks(),
            [dec("0"), dec("50"), dec("100")]
        );
    }

    #[test]
    fn every_value_fits_the_scale_and_the_ticks_stay_few() {
        for largest in [
            dec("1"),
            dec("3"),
            dec("9.99"),
            dec("11"),
            dec("49"),
            dec("51"),
            dec("999"),
            dec("1001"),
            dec("87654321.09"),
        ] {
            let scale = Scale::new(largest);
            assert!(scale.top >= largest, "{largest}: {scale:?}");
            assert!(
                scale.top < largest * dec("2.5") + dec("1"),
                "{largest}: {scale:?}"
            );
            let ticks = scale.ticks();
            assert!(
                (2..=TICKS as usize + 1).contains(&ticks.len()),
                "{largest}: {ticks:?}"
            );
            assert_eq!(ticks.last(), Some(&scale.top));
        }
    }

    #[test]
    fn lengths_are_proportional_and_clamped() {
        let scale = Scale::new(dec("200"));
        assert_eq!(scale.length(dec("200"), 300), dec("300"));
        assert_eq!(scale.length(dec("100"), 300), dec("150"));
        assert_eq!(scale.length(dec("1"), 300), dec("1.5"));
        assert_eq!(scale.length(dec("0"), 300), dec("0"));
        assert_eq!(scale.length(dec("-5"), 300), dec("0"));
        assert_eq!(scale.length(dec("999"), 300), dec("300"));
    }

    #[test]
    fn compact_labels_shorten_thousands_and_millions() {
        assert_eq!(compact(dec("0")), "0");
        assert_eq!(compact(dec("750")), "750");
        assert_eq!(compact(dec("1500")), "1.5k");
        assert_eq!(compact(dec("20000")), "20k");
        assert_eq!(compact(dec("2500000")), "2.5M");
        assert_eq!(compact(dec("0.5")), "0.5");
    }

    #[test]
    fn horizontal_bars_are_as_long_as_their_values_with_the_inner_value_over_them() {
        let rows = [
            HorizontalBar {
                label: "Lead".into(),
                value: dec("100"),
                inner: Some(dec("10")),
                value_text: "100.00".into(),
            },
            HorizontalBar {
                label: "Won".into(),
                value: dec("50"),
                inner: None,
                value_text: "50.00".into(),
            },
        ];
        let chart = horizontal(&rows, A, Some(B));
        assert_eq!(chart.height, 2 * ROW);
        assert_eq!(chart.legend, [A, B]);
        // The largest value fills the bars' length; the others in proportion.
        let length = at(WIDTH - VALUE_ROOM);
        let widths: Vec<(Decimal, &str)> = chart.rects.iter().map(|r| (r.width, r.class)).collect();
        assert_eq!(
            widths,
            [
                (length, "a"),
                (unit(length / dec("10")), "b"),
                (unit(length / dec("2")), "a")
            ]
        );
        // Labels above each bar, and each value just after its bar.
        let texts: Vec<&str> = chart.texts.iter().map(|t| t.text.as_str()).collect();
        assert_eq!(texts, ["Lead", "100.00", "Won", "50.00"]);
        assert_eq!(chart.texts[1].x, length + dec("4"));
        assert!(chart.rects[2].y > chart.rects[0].y);
        // Every shape fits the view box.
        for rect in &chart.rects {
            assert!(rect.x + rect.width <= at(chart.width));
            assert!(rect.y + rect.height <= at(chart.height));
        }
    }

    #[test]
    fn columns_stand_on_the_baseline_in_groups_with_a_value_axis() {
        let groups = [
            Group {
                label: "Jan".into(),
                values: vec![dec("40"), dec("10")],
            },
            Group {
                label: "Feb".into(),
                values: vec![dec("0"), dec("20")],
            },
        ];
        let chart = columns(&[A, B], &groups);
        assert_eq!(chart.rects.len(), 4);
        let baseline = at(COLUMNS_HEIGHT - PLOT_BOTTOM);
        let plot_height = at(COLUMNS_HEIGHT - PLOT_TOP - PLOT_BOTTOM);
        for rect in &chart.rects {
            assert_eq!(rect.y + rect.height, baseline, "{rect:?}");
            assert!(rect.x >= at(PLOT_LEFT) && rect.x + rect.width <= at(WIDTH));
        }
        // Scale 0-40: the 40 fills the plot, 20 half of it, 10 a quarter, 0 nothing.
        let heights: Vec<Decimal> = chart.rects.iter().map(|r| r.height).collect();
        assert_eq!(
            heights,
            [
                plot_height,
                plot_height / dec("4"),
                dec("0"),
                plot_height / dec("2")
            ]
        );
        // Side by side within a group, groups left to right.
        assert!(chart.rects[0].x < chart.rects[1].x);
        assert!(chart.rects[1].x < chart.rects[2].x);
        let gap = chart.rects[1].x - (chart.rects[0].x + chart.rects[0].width);
        assert!(gap.abs() <= dec("0.1"), "adjacent within a group: {gap}");
        // Ticks 0, 10, ..., 40, each with a grid line; the labels under the groups.
        let ticks: Vec<&str> = chart
            .texts
            .iter()
            .filter(|t| t.class == "chart-tick")
            .map(|t| t.text.as_str())
            .collect();
        assert_eq!(ticks, ["0", "10", "20", "30", "40"]);
        assert_eq!(chart.lines.len(), 5);
        assert_eq!(chart.lines[0].y1, baseline);
        let labels: Vec<&str> = chart
            .texts
            .iter()
            .filter(|t| t.class == "chart-label")
            .map(|t| t.text.as_str())
            .collect();
        assert_eq!(labels, ["Jan", "Feb"]);
    }

    #[test]
    fn charts_without_data_still_draw_an_axis() {
        let chart = columns(&[A], &[]);
        assert!(chart.rects.is_empty());
        assert_eq!(chart.lines.len(), 2, "0 and 1");
        let chart = horizontal(&[], A, None);
        assert!(chart.rects.is_empty());
        assert_eq!(chart.height, ROW);
    }
}
