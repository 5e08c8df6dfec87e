//! `/runners`: the registered runners as operators watch them (admins only): the version and
//! task kinds each last reported, its capacity, when it was last seen, what it runs now and how
//! much it finished; the queue's depth and oldest task; and the tasks finished per hour over the
//! last day, as a small chart drawn on the server (SVG, no script); and the datastore's own
//! scheduled work, with each job's next run and last outcome. Each runner's own status page
//! (`RUNNER_BIND`/status) has the detail of its tasks.

use actix_web::{HttpResponse, web};
use serde::Serialize;
use shared_models::api::{QueueInfo, RunnerInfo};

use super::{Visitor, logged_in, page, to_login};
use crate::auth::Viewer;
use crate::domain::tokens;
use crate::error::AppResult;
use crate::state::AppState;

/// A runner not seen for this long is shown as silent (it claims at least every 30 s).
const SILENT_AFTER_SECS: i64 = 120;

#[derive(Serialize)]
struct RunnerRow {
    #[serde(flatten)]
    runner: RunnerInfo,
    silent: bool,
}

/// One bar of the throughput chart.
#[derive(Debug, Serialize, PartialEq)]
struct Bar {
    x: u32,
    y: u32,
    height: u32,
    count: u64,
    /// How many hours before now the bar's hour ended.
    hours_ago: usize,
}

#[derive(Serialize)]
struct RunnersPage {
    user: Option<Visitor>,
    runners: Vec<RunnerRow>,
    queue: QueueInfo,
    bars: Vec<Bar>,
    peak: u64,
    /// The datastore's scheduled work.
    jobs: Vec<shared_models::runner::ScheduledJob>,
    finished_today: u64,
    /// The chart's size, in SVG units.
    width: u32,
    height: u32,
}

const CHART_HEIGHT: u32 = 80;
const BAR_WIDTH: u32 = 14;
const BAR_GAP: u32 = 4;

/// The bars of a chart of `counts` (oldest first), scaled so the largest fills the height.
fn bars(counts: &[u64]) -> (Vec<Bar>, u64) {
    let peak = counts.iter().copied().max().unwrap_or(0);
    let bars = counts
        .iter()
        .enumerate()
        .map(|(i, &count)| {
            let scaled = (count * u64::from(CHART_HEIGHT)).checked_div(peak).unwrap_or(0);
            let height = u32::try_from(scaled).unwrap_or(0);
            // A bar with something in it is visible, however small next to the peak.
            let height = if count > 0 { height.max(2) } else { 0 };
            Bar {
                x: u32::try_from(i).unwrap_or(0) * (BAR_WIDTH + BAR_GAP),
                y: CHART_HEIGHT - height,
                height,
                count,
                hours_ago: counts.len() - 1 - i,
            }
        })
        .collect();
    (bars, peak)
}

pub async fn show(state: web::Data<AppState>, viewer: Viewer) -> AppResult<HttpResponse> {
    let Some(principal) = logged_in(viewer) else { return Ok(to_login("/runners")) };
    let user = Visitor::of(Some(&principal));
    let (list, jobs) = state
        .db
        .run(move |c| {
            let list = tokens::runners(c, &principal)?;
            Ok::<_, crate::error::AppError>((list, crate::domain::schedules::list(c, &principal)?.jobs))
        })
        .await?;
    let now = chrono::Utc::now();
    let runners = list
        .runners
        .into_iter()
        .map(|runner| {
            let silent = runner.last_seen_at.is_none_or(|at| (now - at).num_seconds() > SILENT_AFTER_SECS);
            RunnerRow { runner, silent }
        })
        .collect();
    let (bars, peak) = bars(&list.queue.finished_per_hour);
    let width = u32::try_from(bars.len()).unwrap_or(0) * (BAR_WIDTH + BAR_GAP);
    let finished_today = list.queue.finished_per_hour.iter().sum();
    page(
        "runners.html",
        &RunnersPage {
            user,
            runners,
            queue: list.queue,
            bars,
            peak,
            jobs,
            finished_today,
            width,
            height: CHART_HEIGHT,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_chart_scales_to_its_peak_and_shows_every_non_empty_hour() {
        let (bars, peak) = bars(&[0, 1, 100, 50]);
        assert_eq!(peak, 100);
        let heights: Vec<u32> = bars.iter().map(|b| b.height).collect();
        assert_eq!(heights, vec![0, 2, CHART_HEIGHT, CHART_HEIGHT / 2]);
        assert_eq!(bars[2].y, 0, "the peak reaches the top");
        assert_eq!((bars[0].hours_ago, bars[3].hours_ago), (3, 0), "oldest first");
        assert_eq!(bars[1].x, BAR_WIDTH + BAR_GAP);
        let (empty, peak) = super::bars(&[0, 0]);
        assert!(peak == 0 && empty.iter().all(|b| b.height == 0));
    }
}
