//! A very small SVG writer and a line-chart panel with linear or
//! logarithmic axes: enough for the benchmark plots, no plotting crate.

use std::fmt::Write as _;

/// An SVG document being built.
pub struct Svg {
    width: f64,
    height: f64,
    body: String,
}

/// Escapes text for XML.
pub fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

impl Svg {
    /// An empty `width` × `height` document with a white background.
    pub fn new(width: f64, height: f64) -> Svg {
        let mut s = Svg {
            width,
            height,
            body: String::new(),
        };
        s.rect(0.0, 0.0, width, height, "#ffffff", None);
        s
    }

    /// A straight line; `dash` is an SVG dash array such as "4 3".
    pub fn line(
        &mut self,
        a: (f64, f64),
        b: (f64, f64),
        stroke: &str,
        width: f64,
        dash: Option<&str>,
    ) {
        let _ = writeln!(
            self.body,
            r#"<line x1="{:.1}" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke="{stroke}" stroke-width="{width}"{}/>"#,
            a.0,
            a.1,
            b.0,
            b.1,
            dash.map_or(String::new(), |d| format!(r#" stroke-dasharray="{d}""#))
        );
    }

    /// A connected line through `points`.
    pub fn polyline(
        &mut self,
        points: &[(f64, f64)],
        stroke: &str,
        width: f64,
        dash: Option<&str>,
    ) {
        if points.len() < 2 {
            return;
        }
        let pts: Vec<String> = points
            .iter()
            .map(|(x, y)| format!("{x:.1},{y:.1}"))
            .collect();
        let _ = writeln!(
            self.body,
            r#"<polyline points="{}" fill="none" stroke="{stroke}" stroke-width="{width}"{}/>"#,
            pts.join(" "),
            dash.map_or(String::new(), |d| format!(r#" stroke-dasharray="{d}""#))
        );
    }

    /// A filled circle.
    pub fn circle(&mut self, c: (f64, f64), r: f64, fill: &str) {
        let _ = writeln!(
            self.body,
            r#"<circle cx="{:.1}" cy="{:.1}" r="{r}" fill="{fill}"/>"#,
            c.0, c.1
        );
    }

    /// A rectangle, optionally outlined.
    pub fn rect(&mut self, x: f64, y: f64, w: f64, h: f64, fill: &str, stroke: Option<&str>) {
        let _ = writeln!(
            self.body,
            r#"<rect x="{x:.1}" y="{y:.1}" width="{w:.1}" height="{h:.1}" fill="{fill}"{}/>"#,
            stroke.map_or(String::new(), |s| format!(r#" stroke="{s}""#))
        );
    }

    /// Text; `anchor` is "start", "middle" or "end".
    pub fn text(&mut self, at: (f64, f64), s: &str, size: f64, anchor: &str, fill: &str) {
        let _ = writeln!(
            self.body,
            r#"<text x="{:.1}" y="{:.1}" font-size="{size}" text-anchor="{anchor}" fill="{fill}">{}</text>"#,
            at.0,
            at.1,
            esc(s)
        );
    }

    /// Text rotated 90° counter-clockwise (a y-axis title).
    pub fn text_vertical(&mut self, at: (f64, f64), s: &str, size: f64) {
        let _ = writeln!(
            self.body,
            r#"<text x="{:.1}" y="{:.1}" font-size="{size}" text-anchor="middle" transform="rotate(-90 {:.1} {:.1})">{}</text>"#,
            at.0,
            at.1,
            at.0,
            at.1,
            esc(s)
        );
    }

    /// The finished document.
    pub fn finish(self) -> String {
        format!(
            r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" font-family="sans-serif">
{}</svg>
"#,
            self.body,
            w = self.width,
            h = self.height
        )
    }
}

/// One axis: value range, scale, and how tick labels are written.
#[derive(Clone)]
pub struct Axis {
    /// Title.
    pub title: String,
    /// Smallest value shown.
    pub lo: f64,
    /// Largest value shown.
    pub hi: f64,
    /// Logarithmic (base 10) scale.
    pub log: bool,
    /// Explicit ticks `(value, label)`; empty = automatic.
    pub ticks: Vec<(f64, String)>,
}

impl Axis {
    /// An axis fitted to `values` (padded; decades for a log axis).
    pub fn fit(title: &str, values: &[f64], log: bool) -> Axis {
        let finite: Vec<f64> = values
            .iter()
            .copied()
            .filter(|v| v.is_finite() && (!log || *v > 0.0))
            .collect();
        let (mut lo, mut hi) = finite
            .iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &v| {
                (a.min(v), b.max(v))
            });
        if !lo.is_finite() {
            (lo, hi) = (1.0, 10.0);
        }
        if log {
            lo = 10f64.powf(lo.log10().floor());
            hi = 10f64.powf(hi.log10().ceil());
            if hi <= lo {
                hi = lo * 10.0;
            }
        } else {
            lo = lo.min(0.0);
            hi = if hi > lo { hi * 1.1 } else { lo + 1.0 };
        }
        Axis {
            title: title.to_string(),
            lo,
            hi,
            log,
            ticks: Vec::new(),
        }
    }

    fn frac(&self, v: f64) -> f64 {
        if self.log {
            (v.max(f64::MIN_POSITIVE).log10() - self.lo.log10())
                / (self.hi.log10() - self.lo.log10())
        } else {
            (v - self.lo) / (self.hi - self.lo)
        }
    }

    fn auto_ticks(&self) -> Vec<(f64, String)> {
        if !self.ticks.is_empty() {
            return self.ticks.clone();
        }
        if self.log {
            let (a, b) = (
                self.lo.log10().round() as i32,
                self.hi.log10().round() as i32,
            );
            (a..=b)
                .map(|e| {
                    let v = 10f64.powi(e);
                    (v, crate::report::si(v))
                })
                .collect()
        } else {
            let span = self.hi - self.lo;
            let raw = span / 5.0;
            let mag = 10f64.powf(raw.log10().floor());
            let step = [1.0, 2.0, 5.0, 10.0]
                .iter()
                .map(|m| m * mag)
                .find(|s| *s >= raw)
                .unwrap_or(mag * 10.0);
            let mut v = (self.lo / step).ceil() * step;
            let mut out = Vec::new();
            while v <= self.hi + step * 1e-9 {
                out.push((v, crate::report::sig3(v)));
                v += step;
            }
            out
        }
    }
}

/// A point `(x, y)` with an optional `(min, max)` range of `y`.
pub type Point = (f64, f64, Option<(f64, f64)>);

/// One line on a panel: points `(x, y)` with an optional `(min, max)`
/// range drawn as a whisker.
pub struct Series {
    /// Legend text.
    pub label: String,
    /// Stroke colour.
    pub color: String,
    /// Dash array, for telling series of the same colour apart.
    pub dash: Option<String>,
    /// The points.
    pub points: Vec<Point>,
}

/// Draws a chart panel with its top-left corner at `origin`.
pub fn panel(
    svg: &mut Svg,
    origin: (f64, f64),
    size: (f64, f64),
    title: &str,
    x: &Axis,
    y: &Axis,
    series: &[Series],
) {
    let (left, top) = (origin.0 + 70.0, origin.1 + 30.0);
    let (w, h) = (size.0 - 90.0, size.1 - 75.0);
    let px = |v: f64| left + x.frac(v).clamp(-0.02, 1.02) * w;
    let py = |v: f64| top + h - y.frac(v).clamp(-0.02, 1.02) * h;
    svg.text(
        (origin.0 + size.0 / 2.0, origin.1 + 18.0),
        title,
        14.0,
        "middle",
        "#000",
    );
    svg.rect(left, top, w, h, "#fafafa", Some("#999"));
    for (v, label) in y.auto_ticks() {
        if v < y.lo || v > y.hi {
            continue;
        }
        let yy = py(v);
        svg.line((left, yy), (left + w, yy), "#e0e0e0", 1.0, None);
        svg.text((left - 6.0, yy + 4.0), &label, 11.0, "end", "#333");
    }
    for (v, label) in x.auto_ticks() {
        if v < x.lo || v > x.hi {
            continue;
        }
        let xx = px(v);
        svg.line((xx, top), (xx, top + h), "#e0e0e0", 1.0, None);
        svg.text((xx, top + h + 15.0), &label, 11.0, "middle", "#333");
    }
    svg.text(
        (left + w / 2.0, top + h + 34.0),
        &x.title,
        12.0,
        "middle",
        "#000",
    );
    svg.text_vertical((origin.0 + 16.0, top + h / 2.0), &y.title, 12.0);
    for s in series {
        let pts: Vec<(f64, f64)> = s
            .points
            .iter()
            .filter(|p| p.1.is_finite() && (!y.log || p.1 > 0.0))
            .map(|p| (px(p.0), py(p.1)))
            .collect();
        svg.polyline(&pts, &s.color, 2.0, s.dash.as_deref());
        for p in &s.points {
            if !(p.1.is_finite() && (!y.log || p.1 > 0.0)) {
                continue;
            }
            if let Some((lo, hi)) = p.2 {
                if lo > 0.0 || !y.log {
                    svg.line((px(p.0), py(lo)), (px(p.0), py(hi)), &s.color, 1.0, None);
                }
            }
            svg.circle((px(p.0), py(p.1)), 3.0, &s.color);
        }
    }
    // Legend, top-left inside the plot area.
    for (i, s) in series.iter().enumerate() {
        let ly = top + 14.0 + i as f64 * 15.0;
        svg.line(
            (left + 8.0, ly - 4.0),
            (left + 30.0, ly - 4.0),
            &s.color,
            2.0,
            s.dash.as_deref(),
        );
        svg.text((left + 35.0, ly), &s.label, 11.0, "start", "#000");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_axis_snaps_to_decades() {
        let a = Axis::fit("t", &[3.0, 4500.0], true);
        assert_eq!((a.lo, a.hi), (1.0, 10_000.0));
        assert!((a.frac(100.0) - 0.5).abs() < 1e-12);
    }

    #[test]
    fn escapes_markup() {
        assert_eq!(esc("a<b & \"c\""), "a&lt;b &amp; &quot;c&quot;");
    }
}
