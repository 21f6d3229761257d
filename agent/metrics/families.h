// Building prometheus-cpp MetricFamily values by hand: the collectors that render their own state at
// scrape time (workers, GPUs, the agent's info, the coordinator) all go through these.
#pragma once

#include <string>
#include <vector>

#include "common/metrics/histogram.h"
#include "prometheus/metric_family.h"

namespace accel::metrics {

using Labels = std::vector<prometheus::ClientMetric::Label>;

/// An empty family.
prometheus::MetricFamily Family(std::string name, std::string help, prometheus::MetricType type);
/// Appends one sample to a gauge (or counter) family.
void AddGauge(prometheus::MetricFamily& family, Labels labels, double value);
void AddCounter(prometheus::MetricFamily& family, Labels labels, double value);
/// Appends `counts` as one unlabelled histogram sample: cumulative buckets, +Inf, count and sum.
void AddHistogram(prometheus::MetricFamily& family, const common::HistogramCounts& counts);

}  // namespace accel::metrics
