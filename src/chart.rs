//! Charts for chat notices: the metric that tripped a rollback criterion, plotted over the
//! watch window against its pre-deploy baseline and the threshold, as an 800x400 PNG.
//!
//! People read a picture of a spike faster than numbers, so a rollback notice can carry
//! one. This is presentation shared by every chat adapter: no I/O, no clock. The text is
//! drawn in DejaVu Sans embedded in the binary (see assets/fonts), so rendering needs no
//! font installed on the server, and the same spec always gives the same bytes.

use chrono::{DateTime, Utc};
use plotters::coord::ranged1d::{KeyPointHint, NoDefaultFormatting, ValueFormatter};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use std::ops::Range;
use std::sync::OnceLock;

mod rollback;
pub use rollback::rollback_chart;

/// Size of every chart, in pixels.
pub const WIDTH: u32 = 800;
pub const HEIGHT: u32 = 400;

/// DejaVu Sans 2.37, unmodified; its licence is assets/fonts/LICENSE-DejaVu.txt.
const FONT: &[u8] = include_bytes!("../assets/fonts/DejaVuSans.ttf");
/// The family plotters looks up for axis labels when none is named.
const FONT_FAMILY: &str = "sans-serif";

const METRIC: RGBColor = RGBColor(31, 119, 180);
const BASELINE: RGBColor = RGBColor(110, 110, 110);
const THRESHOLD: RGBColor = RGBColor(214, 39, 40);
const DEPLOY: RGBColor = RGBColor(60, 60, 60);
const TRIPPED: RGBColor = RGBColor(230, 120, 0);
const MUTED: RGBColor = RGBColor(130, 130, 130);

/// Headroom above the highest value drawn, so a spike does not touch the frame.
const HEADROOM: f64 = 1.15;
/// At most this many time labels fit under an 800-pixel chart without crowding.
const MAX_TIME_LABELS: i64 = 8;
/// Label steps, in minutes, that read as round times of day.
const TIME_STEPS_MINUTES: [i64; 14] = [1, 2, 5, 10, 15, 20, 30, 60, 120, 180, 240, 360, 720, 1440];

/// What a metric's values measure, and so how they are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    /// A ratio from 0 to 1 (an error rate), written as a percentage.
    Percent,
    /// A duration in seconds (a latency), written in ms below one second.
    Seconds,
    /// A rate (requests per second).
    PerSecond,
}

impl Unit {
    /// `value` as a person reads it: `0.042` is `4.2%` (Percent), `0.25` is `250 ms`
    /// (Seconds), `12.5` is `12.5/s` (PerSecond).
    pub fn format(self, value: f64) -> String {
        self.format_on_scale(value, value.abs())
    }

    /// `value` written on the scale that fits `largest`, so every label of an axis uses
    /// the same unit (`500 ms`, `1000 ms`, not `500 ms`, `1 s`).
    fn format_on_scale(self, value: f64, largest: f64) -> String {
        match self {
            Unit::Percent => format!("{}%", compact(value * 100.0)),
            Unit::Seconds if largest < 1.0 => format!("{} ms", compact(value * 1000.0)),
            Unit::Seconds => format!("{} s", compact(value)),
            Unit::PerSecond => format!("{}/s", compact(value)),
        }
    }

    /// The top of the value axis when nothing above zero is drawn.
    fn empty_axis_top(self) -> f64 {
        match self {
            Unit::Percent => 0.01,
            Unit::Seconds | Unit::PerSecond => 1.0,
        }
    }
}

/// At most three significant digits, without trailing zeros: `4.2`, `0.125`, `1250`.
fn compact(value: f64) -> String {
    if value == 0.0 || !value.is_finite() {
        return "0".to_owned();
    }
    let magnitude = value.abs().log10().floor() as i32;
    let decimals = (2 - magnitude).clamp(0, 6) as usize;
    let text = format!("{value:.decimals$}");
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        text
    }
}

/// One chart: a metric over a release's watch window.
#[derive(Debug, Clone, PartialEq)]
pub struct ChartSpec {
    /// Drawn above the chart, e.g. `api 1.4.2 — error rate`.
    pub title: String,
    pub unit: Unit,
    /// Samples in time order; `None` is a sample with no data, drawn as a gap.
    pub points: Vec<(DateTime<Utc>, Option<f64>)>,
    /// The metric before the deploy, drawn as a grey dashed line.
    pub baseline: Option<f64>,
    /// The value that trips the rollback criterion, drawn as a red line.
    pub threshold: Option<f64>,
    /// Written by the threshold line, e.g. `threshold (2x baseline)`; empty says `threshold`.
    pub threshold_label: String,
    pub deploy_at: DateTime<Utc>,
    /// When the criterion tripped, if it did.
    pub tripped_at: Option<DateTime<Utc>>,
    /// The end of the watch window: the time axis runs at least until then.
    pub window_end: DateTime<Utc>,
    /// The team's zone: times on the axis are written in it.
    pub time_zone: chrono_tz::Tz,
}

#[derive(Debug, thiserror::Error)]
pub enum ChartError {
    /// The font compiled into shipgate could not be read: the build is broken.
    #[error(
        "the chart font embedded in shipgate could not be loaded; the build's assets/fonts/DejaVuSans.ttf is damaged"
    )]
    Font,
    #[error("drawing the chart failed: {0}")]
    Draw(String),
    #[error("encoding the chart as PNG failed: {0}")]
    Encode(String),
}

/// Renders the chart as an 800x400 PNG. A spec with no data draws its lines and says
/// "no data" rather than failing.
pub fn render_png(spec: &ChartSpec) -> Result<Vec<u8>, ChartError> {
    register_font()?;
    let mut pixels = vec![0u8; (WIDTH * HEIGHT * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut pixels, (WIDTH, HEIGHT)).into_drawing_area();
        draw(&root, spec).map_err(|e| ChartError::Draw(e.to_string()))?;
        root.present().map_err(|e| ChartError::Draw(e.to_string()))?;
    }
    encode_png(&pixels)
}

fn register_font() -> Result<(), ChartError> {
    static REGISTERED: OnceLock<bool> = OnceLock::new();
    let registered =
        *REGISTERED.get_or_init(|| plotters::style::register_font(FONT_FAMILY, FontStyle::Normal, FONT).is_ok());
    if registered {
        Ok(())
    } else {
        Err(ChartError::Font)
    }
}

fn encode_png(pixels: &[u8]) -> Result<Vec<u8>, ChartError> {
    let mut out = Vec::with_capacity(32 * 1024);
    let mut encoder = png::Encoder::new(&mut out, WIDTH, HEIGHT);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header().map_err(|e| ChartError::Encode(e.to_string()))?;
    writer.write_image_data(pixels).map_err(|e| ChartError::Encode(e.to_string()))?;
    writer.finish().map_err(|e| ChartError::Encode(e.to_string()))?;
    Ok(out)
}

/// The time axis in seconds from `start`: plotters draws it with labels on round local
/// times ([`TimeAxis::ticks`]) written in the team's zone ([`TimeAxis::label`]).
struct TimeAxis {
    start: DateTime<Utc>,
    seconds: f64,
    time_zone: chrono_tz::Tz,
}

impl TimeAxis {
    /// From the first of the samples and the deploy to the last of the samples, the trip
    /// and the window's end; at least a minute.
    fn of(spec: &ChartSpec) -> Self {
        let times = spec.points.iter().map(|(at, _)| *at).chain([spec.deploy_at, spec.window_end]);
        let times = times.chain(spec.tripped_at);
        let (start, end) = times.fold((spec.deploy_at, spec.window_end), |(lo, hi), at| (lo.min(at), hi.max(at)));
        let seconds = ((end - start).num_milliseconds() as f64 / 1000.0).max(60.0);
        TimeAxis { start, seconds, time_zone: spec.time_zone }
    }

    fn x(&self, at: DateTime<Utc>) -> f64 {
        (at - self.start).num_milliseconds() as f64 / 1000.0
    }

    fn at(&self, x: f64) -> DateTime<Utc> {
        self.start + chrono::Duration::milliseconds((x * 1000.0).round() as i64)
    }

    /// Label positions on round local times (every 5, 10, 30 minutes...), at most
    /// [`MAX_TIME_LABELS`] of them.
    fn ticks(&self) -> Vec<f64> {
        let span_minutes = (self.seconds / 60.0).ceil() as i64;
        let step_minutes = TIME_STEPS_MINUTES
            .iter()
            .copied()
            .find(|step| span_minutes / step < MAX_TIME_LABELS)
            .unwrap_or(TIME_STEPS_MINUTES[TIME_STEPS_MINUTES.len() - 1]);
        let step = step_minutes * 60;
        // Round in local wall-clock time, so 14:00 in Kathmandu (+05:45) is a tick.
        let offset = {
            use chrono::Offset;
            self.start.with_timezone(&self.time_zone).offset().fix().local_minus_utc() as i64
        };
        let local_start = self.start.timestamp() + offset;
        let first_local = local_start + (step - local_start.rem_euclid(step)) % step;
        let start_seconds = self.start.timestamp() as f64 + f64::from(self.start.timestamp_subsec_millis()) / 1000.0;
        let mut ticks = Vec::new();
        let mut local = first_local;
        loop {
            let x = (local - offset) as f64 - start_seconds;
            if x > self.seconds {
                break;
            }
            if x >= 0.0 {
                ticks.push(x);
            }
            local += step;
        }
        ticks
    }

    /// `HH:MM` in the team's zone; with the weekday when the window spans more than a day.
    fn label(&self, x: f64) -> String {
        let local = self.at(x).with_timezone(&self.time_zone);
        if self.seconds > 24.0 * 3600.0 {
            local.format("%a %H:%M").to_string()
        } else {
            local.format("%H:%M").to_string()
        }
    }
}

impl Ranged for TimeAxis {
    type FormatOption = NoDefaultFormatting;
    type ValueType = f64;

    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        let share = value / self.seconds;
        limit.0 + (share * f64::from(limit.1 - limit.0)).round() as i32
    }

    fn key_points<Hint: KeyPointHint>(&self, hint: Hint) -> Vec<f64> {
        if hint.max_num_points() == 0 {
            Vec::new()
        } else {
            self.ticks()
        }
    }

    fn range(&self) -> Range<f64> {
        0.0..self.seconds
    }
}

impl ValueFormatter<f64> for TimeAxis {
    fn format_ext(&self, value: &f64) -> String {
        self.label(*value)
    }
}

/// The value axis: from zero (or the lowest value, if below) to a little above the highest
/// of the samples, the baseline and the threshold.
fn value_range(spec: &ChartSpec, values: &[f64]) -> (f64, f64) {
    let references = [spec.baseline, spec.threshold].into_iter().flatten().filter(|v| v.is_finite());
    let all: Vec<f64> = values.iter().copied().chain(references).collect();
    let highest = all.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let lowest = all.iter().copied().fold(0.0, f64::min);
    let top = if highest > 0.0 { highest * HEADROOM } else { spec.unit.empty_axis_top() };
    let bottom = if lowest < 0.0 { lowest * HEADROOM } else { 0.0 };
    (bottom, top)
}

/// Runs of consecutive samples with data, each drawn as its own line: a gap stays a gap.
fn segments(axis: &TimeAxis, points: &[(DateTime<Utc>, Option<f64>)]) -> Vec<Vec<(f64, f64)>> {
    let mut sorted: Vec<&(DateTime<Utc>, Option<f64>)> = points.iter().collect();
    sorted.sort_by_key(|(at, _)| *at);
    let mut runs: Vec<Vec<(f64, f64)>> = Vec::new();
    let mut current = Vec::new();
    for (at, value) in sorted {
        match value.filter(|v| v.is_finite()) {
            Some(v) => current.push((axis.x(*at), v)),
            None if !current.is_empty() => runs.push(std::mem::take(&mut current)),
            None => {}
        }
    }
    if !current.is_empty() {
        runs.push(current);
    }
    runs
}

type DrawResult = Result<(), DrawingAreaErrorKind<<BitMapBackend<'static> as DrawingBackend>::ErrorType>>;

fn draw(root: &DrawingArea<BitMapBackend<'_>, Shift>, spec: &ChartSpec) -> DrawResult {
    root.fill(&WHITE)?;
    let axis = TimeAxis::of(spec);
    let runs = segments(&axis, &spec.points);
    let values: Vec<f64> = runs.iter().flatten().map(|(_, v)| *v).collect();
    let (bottom, top) = value_range(spec, &values);
    let largest = top.abs().max(bottom.abs()) / HEADROOM;
    let right = axis.seconds;
    // Where the markers go, and how far down their labels sit: the trip's below the
    // deploy's, so the two stay readable when the trip follows the deploy closely.
    let mut markers = vec![(axis.x(spec.deploy_at), spec.deploy_at, "deploy", DEPLOY, 1, 4)];
    if let Some(at) = spec.tripped_at {
        markers.push((axis.x(at), at, "tripped", TRIPPED, 2, 20));
    }

    let mut chart = ChartBuilder::on(root)
        .caption(&spec.title, (FONT_FAMILY, 20).into_font().color(&BLACK))
        .margin(12)
        // Room for the last time label, centred on the right edge.
        .margin_right(28)
        .x_label_area_size(34)
        .y_label_area_size(70)
        .build_cartesian_2d(axis, bottom..top)?;
    chart
        .configure_mesh()
        .light_line_style(WHITE)
        .bold_line_style(RGBColor(230, 230, 230))
        .axis_style(MUTED)
        .label_style((FONT_FAMILY, 13).into_font().color(&DEPLOY))
        .y_labels(6)
        .y_label_formatter(&|y| spec.unit.format_on_scale(*y, largest))
        .x_desc(format!("time ({})", spec.time_zone.name()))
        .axis_desc_style((FONT_FAMILY, 13).into_font().color(&MUTED))
        .draw()?;

    let label_font = |color: RGBColor, anchor: Pos| (FONT_FAMILY, 13).into_font().color(&color).pos(anchor);

    if let Some(baseline) = spec.baseline.filter(|v| v.is_finite()) {
        let style = ShapeStyle::from(&BASELINE).stroke_width(1);
        chart.draw_series(DashedLineSeries::new([(0.0, baseline), (right, baseline)], 6, 4, style))?;
        let text = format!("baseline {}", spec.unit.format(baseline));
        // Below its line, so the threshold above keeps its label above its own; on the
        // floor of the chart there is no room below: above the line, at the left end.
        let on_floor = (baseline - bottom) < (top - bottom) * 0.08;
        let (at, offset, anchor) = if on_floor {
            ((0.0, baseline), (4, -4), Pos::new(HPos::Left, VPos::Bottom))
        } else {
            ((right, baseline), (-4, 4), Pos::new(HPos::Right, VPos::Top))
        };
        chart.draw_series(std::iter::once(
            EmptyElement::at(at) + Text::new(text, offset, label_font(BASELINE, anchor)),
        ))?;
    }
    if let Some(threshold) = spec.threshold.filter(|v| v.is_finite()) {
        let style = ShapeStyle::from(&THRESHOLD).stroke_width(2);
        chart.draw_series(LineSeries::new([(0.0, threshold), (right, threshold)], style))?;
        let name = if spec.threshold_label.trim().is_empty() { "threshold" } else { spec.threshold_label.trim() };
        let text = format!("{name} {}", spec.unit.format(threshold));
        let anchor = Pos::new(HPos::Right, VPos::Bottom);
        chart.draw_series(std::iter::once(
            EmptyElement::at((right, threshold)) + Text::new(text, (-4, -4), label_font(THRESHOLD, anchor)),
        ))?;
    }

    for (x, at, name, color, width, dy) in markers {
        let style = ShapeStyle::from(&color).stroke_width(width);
        chart.draw_series(DashedLineSeries::new([(x, bottom), (x, top)], 4, 3, style))?;
        let local = at.with_timezone(&spec.time_zone).format("%H:%M");
        // Written on the side with room: left of a marker near the right edge.
        let (anchor, dx) = if x > right * 0.8 { (HPos::Right, -4) } else { (HPos::Left, 4) };
        let font = label_font(color, Pos::new(anchor, VPos::Top));
        chart.draw_series(std::iter::once(
            EmptyElement::at((x, top)) + Text::new(format!("{name} {local}"), (dx, dy), font),
        ))?;
    }

    let line = ShapeStyle::from(&METRIC).stroke_width(2);
    for run in &runs {
        if let [only] = run.as_slice() {
            // A lone sample between gaps has no line to draw: a dot shows it.
            chart.draw_series(std::iter::once(Circle::new(*only, 4, line.filled())))?;
        } else {
            chart.draw_series(LineSeries::new(run.iter().copied(), line))?;
        }
    }

    if values.is_empty() {
        let font = (FONT_FAMILY, 22).into_font().color(&MUTED).pos(Pos::new(HPos::Center, VPos::Center));
        let middle = (right / 2.0, (bottom + top) / 2.0);
        chart.draw_series(std::iter::once(Text::new("no data", middle, font)))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn values_read_in_their_unit() {
        assert_eq!(Unit::Percent.format(0.042), "4.2%");
        assert_eq!(Unit::Percent.format(0.0), "0%");
        assert_eq!(Unit::Percent.format(0.00125), "0.125%");
        assert_eq!(Unit::Seconds.format(0.25), "250 ms");
        assert_eq!(Unit::Seconds.format(1.5), "1.5 s");
        assert_eq!(Unit::PerSecond.format(1250.0), "1250/s");
        // An axis keeps one scale across its labels.
        assert_eq!(Unit::Seconds.format_on_scale(1.0, 0.9), "1000 ms");
    }

    #[test]
    fn time_labels_fall_on_round_local_minutes() {
        let start = Utc.with_ymd_and_hms(2026, 3, 2, 13, 57, 30).single().expect("a time");
        let spec = ChartSpec {
            title: String::new(),
            unit: Unit::Percent,
            points: Vec::new(),
            baseline: None,
            threshold: None,
            threshold_label: String::new(),
            deploy_at: start,
            tripped_at: None,
            window_end: start + chrono::Duration::minutes(30),
            time_zone: chrono_tz::Asia::Kathmandu,
        };
        let axis = TimeAxis::of(&spec);
        let labels: Vec<String> = axis.ticks().iter().map(|x| axis.label(*x)).collect();
        // 13:57:30 UTC is 19:42:30 in Kathmandu (+05:45); 30 minutes in steps of 5.
        assert_eq!(labels, ["19:45", "19:50", "19:55", "20:00", "20:05", "20:10"]);
    }

    #[test]
    fn gaps_split_the_line_and_non_numbers_count_as_gaps() {
        let start = Utc.with_ymd_and_hms(2026, 3, 2, 14, 0, 0).single().expect("a time");
        let minute = |m| start + chrono::Duration::minutes(m);
        let points = vec![
            (minute(0), Some(1.0)),
            (minute(1), Some(2.0)),
            (minute(2), None),
            (minute(3), Some(f64::NAN)),
            (minute(4), Some(3.0)),
        ];
        let spec = ChartSpec {
            title: String::new(),
            unit: Unit::PerSecond,
            points: points.clone(),
            baseline: None,
            threshold: None,
            threshold_label: String::new(),
            deploy_at: start,
            tripped_at: None,
            window_end: minute(4),
            time_zone: chrono_tz::UTC,
        };
        let axis = TimeAxis::of(&spec);
        assert_eq!(segments(&axis, &points), vec![vec![(0.0, 1.0), (60.0, 2.0)], vec![(240.0, 3.0)]]);
    }
}
