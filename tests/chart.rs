//! The rollback chart: every spec renders to an 800x400 PNG that decodes, the same spec
//! always to the same bytes, and what matters can be seen in the pixels: the metric line,
//! the threshold, a spike above it, nothing drawn where there is no data.

use chrono::{DateTime, Duration, TimeZone, Utc};
use shipgate::chart::{render_png, ChartSpec, Unit, HEIGHT, WIDTH};

/// The colours the chart draws the metric and the threshold in.
const METRIC: [u8; 3] = [31, 119, 180];
const THRESHOLD: [u8; 3] = [214, 39, 40];

struct Image {
    width: u32,
    height: u32,
    rgb: Vec<u8>,
}

impl Image {
    fn decode(png_bytes: &[u8]) -> Self {
        let decoder = png::Decoder::new(std::io::Cursor::new(png_bytes));
        let mut reader = decoder.read_info().expect("the chart is a PNG");
        let mut rgb = vec![0; reader.output_buffer_size().expect("the PNG's size fits in memory")];
        let frame = reader.next_frame(&mut rgb).expect("the PNG's pixels decode");
        assert_eq!(frame.color_type, png::ColorType::Rgb, "an RGB image");
        assert_eq!(frame.bit_depth, png::BitDepth::Eight);
        rgb.truncate(frame.buffer_size());
        Image { width: frame.width, height: frame.height, rgb }
    }

    /// Rows (from the top) that have at least one pixel of `color`.
    fn rows_with(&self, color: [u8; 3]) -> Vec<u32> {
        (0..self.height)
            .filter(|y| {
                let row = &self.rgb[(y * self.width * 3) as usize..((y + 1) * self.width * 3) as usize];
                row.chunks_exact(3).any(|pixel| pixel == color)
            })
            .collect()
    }

    /// Columns (from the left) that have at least one pixel of `color`.
    fn columns_with(&self, color: [u8; 3]) -> Vec<u32> {
        (0..self.width)
            .filter(|x| {
                (0..self.height).any(|y| {
                    let at = ((y * self.width + x) * 3) as usize;
                    self.rgb[at..at + 3] == color
                })
            })
            .collect()
    }
}

fn deploy() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 2, 13, 0, 0).single().expect("a valid time")
}

/// Error rate sampled every minute from 10 minutes before the deploy to 30 after.
fn spec(points: Vec<(DateTime<Utc>, Option<f64>)>) -> ChartSpec {
    ChartSpec {
        title: "api 1.4.2 — error rate".into(),
        unit: Unit::Percent,
        points,
        baseline: Some(0.004),
        threshold: Some(0.008),
        threshold_label: "threshold (2x baseline)".into(),
        deploy_at: deploy(),
        tripped_at: Some(deploy() + Duration::minutes(12)),
        window_end: deploy() + Duration::minutes(30),
        time_zone: chrono_tz::Europe::Berlin,
    }
}

fn minutes(
    range: std::ops::RangeInclusive<i64>,
    value: impl Fn(i64) -> Option<f64>,
) -> Vec<(DateTime<Utc>, Option<f64>)> {
    range.map(|m| (deploy() + Duration::minutes(m), value(m))).collect()
}

fn spike() -> ChartSpec {
    spec(minutes(-10..=20, |m| Some(if (10..=14).contains(&m) { 0.031 } else { 0.004 })))
}

fn render(spec: &ChartSpec) -> Image {
    let bytes = render_png(spec).expect("the chart renders");
    let image = Image::decode(&bytes);
    assert_eq!((image.width, image.height), (WIDTH, HEIGHT));
    assert_eq!((WIDTH, HEIGHT), (800, 400));
    image
}

#[test]
fn a_spike_rises_above_the_threshold_line() {
    let image = render(&spike());
    let metric = image.rows_with(METRIC);
    let threshold = image.rows_with(THRESHOLD);
    assert!(!metric.is_empty(), "the metric line is drawn");
    assert!(!threshold.is_empty(), "the threshold line is drawn");
    // Rows count down from the top: the spike's peak is above the threshold's line, and
    // the line away from the spike (at the baseline) is below it.
    let threshold_line = *threshold.last().expect("rows");
    assert!(metric.first().expect("rows") < &threshold_line, "the spike crosses the threshold");
    assert!(metric.last().expect("rows") > &threshold_line, "the baseline level is below the threshold");
}

#[test]
fn all_gaps_draw_the_reference_lines_and_no_metric() {
    let image = render(&spec(minutes(-10..=20, |_| None)));
    assert!(image.rows_with(METRIC).is_empty(), "nothing drawn for samples without data");
    assert!(!image.rows_with(THRESHOLD).is_empty(), "the threshold is still drawn");

    let empty = render(&spec(Vec::new()));
    assert!(empty.rows_with(METRIC).is_empty(), "no samples, no line");
    assert!(!empty.rows_with(THRESHOLD).is_empty());
}

#[test]
fn a_zero_baseline_and_a_flat_zero_metric_render() {
    let mut zero = spec(minutes(-10..=20, |_| Some(0.0)));
    zero.baseline = Some(0.0);
    zero.threshold = Some(0.0);
    zero.tripped_at = None;
    let image = render(&zero);
    let metric = image.rows_with(METRIC);
    assert!(!metric.is_empty(), "a flat zero line is drawn");
    // On the floor of the chart, in the lower part of the picture.
    assert!(metric.iter().all(|row| *row > HEIGHT / 2), "{metric:?}");
}

#[test]
fn one_sample_is_drawn_as_a_dot() {
    let image = render(&spec(vec![(deploy() + Duration::minutes(5), Some(0.02))]));
    let (rows, columns) = (image.rows_with(METRIC), image.columns_with(METRIC));
    assert!(!rows.is_empty(), "the lone sample shows");
    assert!(rows.len() <= 12 && columns.len() <= 12, "a dot, not a line: rows {rows:?}, columns {columns:?}");
}

#[test]
fn latency_and_rate_charts_render_in_any_zone() {
    let mut latency = spike();
    latency.unit = Unit::Seconds;
    latency.points = minutes(-10..=20, |m| Some(if m > 8 { 2.4 } else { 0.180 }));
    latency.baseline = Some(0.180);
    latency.threshold = Some(0.5);
    latency.time_zone = chrono_tz::America::New_York;
    assert!(!render(&latency).rows_with(METRIC).is_empty());

    let mut rate = spike();
    rate.unit = Unit::PerSecond;
    rate.points = minutes(-10..=20, |m| Some(1200.0 - 10.0 * m as f64));
    rate.baseline = None;
    rate.threshold = None;
    rate.tripped_at = None;
    rate.time_zone = chrono_tz::Asia::Kathmandu;
    let image = render(&rate);
    assert!(!image.rows_with(METRIC).is_empty());
    assert!(image.rows_with(THRESHOLD).is_empty(), "no threshold, no red line");
}

#[test]
fn the_same_spec_gives_the_same_bytes() {
    let spec = spike();
    let first = render_png(&spec).expect("renders");
    let second = render_png(&spec).expect("renders");
    assert_eq!(first, second);
    let mut later = spike();
    later.tripped_at = Some(deploy() + Duration::minutes(13));
    assert_ne!(render_png(&later).expect("renders"), first, "a different spec draws a different chart");
}
