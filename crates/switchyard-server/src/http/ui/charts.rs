//! The overview's charts: the last hour a minute at a time ([`Engine::activity`]),
//! drawn as small server-rendered SVG bar charts — no script, no library. Each
//! chart says in words what it shows (its summary, also the SVG's label), and each
//! bar carries its minute and value as a tooltip.
//!
//! [`Engine::activity`]: switchyard_engine::Engine::activity

use serde::Serialize;
use switchyard_engine::activity::Minute;
use switchyard_engine::time::rfc3339;

/// The drawing's size (the SVG's view box): one bar slot per minute.
const WIDTH: f64 = 300.0;
const HEIGHT: f64 = 60.0;

/// One chart, ready for `overview.html`.
#[derive(Debug, Serialize)]
pub struct Chart {
    pub id: &'static str,
    pub title: &'static str,
    /// What it shows, in words (the figure's caption and the SVG's label).
    pub summary: String,
    /// The highest bar's value, as shown on the scale.
    pub max: String,
    /// The first minute shown (`HH:MM`, UTC).
    pub start: String,
    pub bars: Vec<Bar>,
}

/// One minute's bar (none for a minute without a value).
#[derive(Debug, Serialize)]
pub struct Bar {
    pub x: String,
    pub y: String,
    pub width: String,
    pub height: String,
    /// `HH:MM: value`.
    pub label: String,
}

/// The four charts of the overview, from the last hour's minutes.
pub fn charts(minutes: &[Minute]) -> Vec<Chart> {
    let events: i64 = minutes.iter().map(|m| m.events).sum();
    let rejected: i64 = minutes.iter().map(|m| m.rejected).sum();
    let attempts: i64 = minutes.iter().map(|m| m.attempts).sum();
    let failed: i64 = minutes.iter().map(|m| m.failed_attempts).sum();
    let peak = minutes.iter().map(|m| m.events).max().unwrap_or(0);
    let arrived = events + rejected;
    let latency_sum: f64 = minutes
        .iter()
        .filter_map(|m| m.latency_ms.map(|l| l * m.attempts as f64))
        .sum();
    let now_depth = minutes.last().and_then(|m| m.queue_depth);
    let max_depth = minutes.iter().filter_map(|m| m.queue_depth).max();
    vec![
        chart(
            "events",
            "Events per minute",
            minutes,
            |m| Some(m.events as f64),
            |v| format!("{v:.0}"),
            format!(
                "{events} {} received in the last hour, at most {peak} in a minute.",
                if events == 1 { "event" } else { "events" }
            ),
        ),
        chart(
            "errors",
            "Error rate",
            minutes,
            |m| m.error_rate.map(|r| r * 100.0),
            |v| format!("{v:.0}%"),
            if arrived == 0 {
                "Nothing arrived in the last hour.".to_owned()
            } else {
                format!(
                    "{:.1}% of requests refused in the last hour ({rejected} of {arrived}).",
                    rejected as f64 * 100.0 / arrived as f64
                )
            },
        ),
        chart(
            "latency",
            "Delivery latency",
            minutes,
            |m| m.latency_ms,
            |v| format!("{v:.0} ms"),
            if attempts == 0 {
                "No delivery attempts in the last hour.".to_owned()
            } else {
                format!(
                    "Mean {:.0} ms over {attempts} delivery attempts in the last hour; {failed} failed.",
                    latency_sum / attempts as f64
                )
            },
        ),
        chart(
            "queue",
            "Delivery queue depth",
            minutes,
            |m| m.queue_depth.map(|d| d as f64),
            |v| format!("{v:.0}"),
            match (now_depth, max_depth) {
                (Some(now), Some(max)) => {
                    format!("{now} messages waiting now; at most {max} in the last hour.")
                }
                _ => "Not sampled yet.".to_owned(),
            },
        ),
    ]
}

/// `HH:MM` of a minute (UTC).
fn clock(at: i64) -> String {
    rfc3339(at).get(11..16).unwrap_or_default().to_owned()
}

fn chart(
    id: &'static str,
    title: &'static str,
    minutes: &[Minute],
    value: impl Fn(&Minute) -> Option<f64>,
    show: impl Fn(f64) -> String,
    summary: String,
) -> Chart {
    let values: Vec<Option<f64>> = minutes.iter().map(&value).collect();
    let max = values.iter().flatten().copied().fold(0.0_f64, f64::max);
    let slot = WIDTH / minutes.len().max(1) as f64;
    let bars = minutes
        .iter()
        .zip(&values)
        .enumerate()
        .filter_map(|(i, (m, v))| {
            let v = (*v)?;
            // A zero still shows as a hairline, so "zero" and "no value" differ.
            let h = if max > 0.0 {
                (v / max * (HEIGHT - 2.0)).max(1.0)
            } else {
                1.0
            };
            Some(Bar {
                x: format!("{:.2}", i as f64 * slot),
                y: format!("{:.2}", HEIGHT - h),
                width: format!("{:.2}", (slot - 1.0).max(1.0)),
                height: format!("{h:.2}"),
                label: format!("{}: {}", clock(m.at), show(v)),
            })
        })
        .collect();
    Chart {
        id,
        title,
        summary,
        max: show(max),
        start: minutes.first().map(|m| clock(m.at)).unwrap_or_default(),
        bars,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn minute(i: i64, events: i64, rejected: i64, depth: Option<i64>) -> Minute {
        let arrived = events + rejected;
        Minute {
            at: 1_764_450_000_000_000 + i * 60_000_000,
            events,
            rejected,
            error_rate: (arrived > 0).then(|| rejected as f64 / arrived as f64),
            attempts: 0,
            failed_attempts: 0,
            latency_ms: None,
            queue_depth: depth,
        }
    }

    #[test]
    fn bars_scale_to_the_highest_and_skip_minutes_without_a_value() {
        let minutes = [
            minute(0, 2, 0, None),
            minute(1, 4, 4, Some(3)),
            minute(2, 0, 0, Some(0)),
        ];
        let c = charts(&minutes);
        let events = &c[0];
        assert_eq!(events.bars.len(), 3);
        assert_eq!(
            events.bars[1].height, "58.00",
            "the highest fills the height"
        );
        assert_eq!(events.bars[0].height, "29.00");
        assert_eq!(events.bars[2].height, "1.00", "a zero is a hairline");
        assert_eq!(events.max, "4");
        assert!(
            events.summary.starts_with("6 events received"),
            "{}",
            events.summary
        );
        let errors = &c[1];
        assert_eq!(
            errors.bars.len(),
            2,
            "no bar for the minute where nothing arrived"
        );
        assert!(errors.summary.contains("(4 of 10)"), "{}", errors.summary);
        assert_eq!(c[2].bars.len(), 0);
        assert_eq!(c[2].summary, "No delivery attempts in the last hour.");
        assert_eq!(c[3].bars.len(), 2);
        assert!(
            c[3].summary
                .starts_with("0 messages waiting now; at most 3"),
            "{}",
            c[3].summary
        );
        assert_eq!(events.start, "21:00");
        assert_eq!(events.bars[1].label, "21:01: 4");
    }
}
